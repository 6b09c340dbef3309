#include "analysis/usage.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <set>

#include <spdlog/spdlog.h>

#include "common/name.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "datasets/values.hpp"
#include "cube/cube.hpp"
#include "gateway/gateway.hpp"
#include "http/client.hpp"

namespace aimass::analysis {

using json = nlohmann::json;

namespace {

constexpr int64_t kSlotMs = 10'000;  // the in-memory series' resolution
constexpr int kShards = 16;
constexpr char kSep = '\x1f';
const char* const kDims[] = {"all", "application", "consumer", "route", "deployment", "version"};

// The text of an empty field in the dataset: present, so that the cube groups it.
std::string OrDash(std::string_view s) { return s.empty() ? "-" : std::string(s); }

std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> out;
  size_t at = 0;
  for (;;) {
    const size_t next = key.find(kSep, at);
    out.push_back(key.substr(at, next == std::string::npos ? std::string::npos : next - at));
    if (next == std::string::npos) return out;
    at = next + 1;
  }
}

std::string CsvField(std::string_view s) {
  std::string out;
  datasets::AppendCsvField(out, s);
  return out;
}

double MetricOf(const UsageTally& t, const std::string& metric) {
  if (metric == "calls") return static_cast<double>(t.calls);
  if (metric == "errors") return static_cast<double>(t.errors);
  if (metric == "error_rate") return t.calls ? static_cast<double>(t.errors) / static_cast<double>(t.calls) : 0.0;
  if (metric == "latency_p95_ms") return t.Percentile(0.95);
  if (metric == "latency_avg_ms") return t.calls ? t.latency_sum / static_cast<double>(t.calls) : 0.0;
  if (metric == "bytes_out") return static_cast<double>(t.bytes_out);
  return 0;
}

bool KnownMetric(const std::string& m) {
  return m == "calls" || m == "errors" || m == "error_rate" || m == "latency_p95_ms" || m == "latency_avg_ms" || m == "bytes_out";
}

bool KnownDim(const std::string& d) { return std::find(std::begin(kDims), std::end(kDims), d) != std::end(kDims); }

json TallyJson(const UsageTally& t) {
  return {{"calls", t.calls},
          {"errors", t.errors},
          {"client_errors", t.client_errors},
          {"error_rate", MetricOf(t, "error_rate")},
          {"latency_avg_ms", MetricOf(t, "latency_avg_ms")},
          {"latency_p95_ms", t.Percentile(0.95)},
          {"latency_max_ms", t.latency_max},
          {"slow_calls", t.slow},
          {"bytes_in", t.bytes_in},
          {"bytes_out", t.bytes_out}};
}

}  // namespace

void UsageTally::Add(const UsageRecord& r) {
  ++calls;
  errors += r.status >= 500;
  client_errors += r.status >= 400 && r.status < 500;
  slow += r.latency_ms >= 1000;
  latency_sum += r.latency_ms;
  latency_max = std::max(latency_max, r.latency_ms);
  bytes_in += r.bytes_in;
  bytes_out += r.bytes_out;
  const double b = r.latency_ms <= 0.1 ? 0 : std::log10(r.latency_ms / 0.1) * 8;
  hist[static_cast<size_t>(std::clamp(static_cast<int>(b), 0, kBuckets - 1))]++;
}

void UsageTally::Merge(const UsageTally& o) {
  calls += o.calls, errors += o.errors, client_errors += o.client_errors, slow += o.slow;
  latency_sum += o.latency_sum, latency_max = std::max(latency_max, o.latency_max);
  bytes_in += o.bytes_in, bytes_out += o.bytes_out;
  for (int i = 0; i < kBuckets; ++i) hist[static_cast<size_t>(i)] += o.hist[static_cast<size_t>(i)];
}

double UsageTally::Percentile(double q) const {
  if (calls == 0) return 0;
  const double want = q * static_cast<double>(calls);
  double seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += hist[static_cast<size_t>(i)];
    if (seen >= want) return std::min(latency_max, 0.1 * std::pow(10.0, (i + 1) / 8.0));  // the bucket's upper edge
  }
  return latency_max;
}

struct UsageService::Shard {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mu;
  std::unordered_map<std::string, UsageTally, Hash, std::equal_to<>> tallies;
};

struct UsageService::AlertRule {
  std::string name, metric, by, value, webhook;
  double threshold = 0, anomaly = 0;  // one of the two (anomaly: standard deviations)
  int64_t window_ms = 60'000;
  uint64_t min_calls = 20;
  json spec;
};

std::vector<storage::Migration> UsageService::Migrations() {
  return {{"analysis", 3, R"(
CREATE TABLE usage_alert_rules (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL
);
CREATE TABLE usage_alert_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  rule TEXT NOT NULL,
  value TEXT NOT NULL,
  state TEXT NOT NULL,
  observed REAL NOT NULL,
  threshold REAL NOT NULL,
  webhook_status INTEGER NOT NULL DEFAULT 0,
  at_ms INTEGER NOT NULL
);
CREATE INDEX usage_alert_events_rule ON usage_alert_events (rule, id);
)"}};
}

UsageService::UsageService(storage::Db& db, UsageOptions o) : db_(db), o_(std::move(o)) {
  for (int i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>());
}

UsageService::~UsageService() { Stop(); }

void UsageService::Record(const UsageRecord& r) {
  // The key of the call's second, built in this thread's buffer: a lookup allocates nothing.
  thread_local std::string key;
  auto number = [](std::string& out, int64_t v) {
    char buf[24];
    out.append(buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf));
  };
  key.clear();
  number(key, r.time_ms / 1000);
  key.push_back(kSep);
  key.append(r.kind).push_back(kSep);
  key.append(r.route).push_back(kSep);
  key.append(r.application).push_back(kSep);
  key.append(r.consumer).push_back(kSep);
  key.append(r.deployment).push_back(kSep);
  number(key, r.version);
  key.push_back(kSep);
  number(key, r.status);
  // A shard per thread, dealt out in turn (a thread id's hash is its stack's address, page
  // aligned: every thread would land in the same shard): the gateway's threads never meet on a
  // lock unless there are more than 16 of them.
  static std::atomic<size_t> next_shard{0};
  thread_local const size_t shard = next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  Shard& s = *shards_[shard];
  std::lock_guard lock(s.mu);
  auto it = s.tallies.find(std::string_view(key));
  if (it == s.tallies.end()) it = s.tallies.emplace(key, UsageTally{}).first;
  it->second.Add(r);
}

void UsageService::Start() {
  if (!o_.run) return;
  thread_ = std::thread([this] { Loop(); });
}

void UsageService::Stop() {
  {
    std::lock_guard lock(wake_mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void UsageService::Loop() {
  NameThisThread("usage");
  for (;;) {
    {
      std::unique_lock lock(wake_mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(o_.flush_ms), [&] { return stopping_; });
      if (stopping_) {
        lock.unlock();
        if (auto st = Flush(); !st.ok()) spdlog::warn("usage: the last flush failed: {}", st.message());
        return;
      }
    }
    if (auto st = Flush(); !st.ok()) spdlog::warn("usage: {}", st.message());
  }
}

Status UsageService::Flush() {
  std::lock_guard lock(flush_mu_);
  return FlushLocked();
}

Status UsageService::FlushLocked() {
  std::map<std::string, UsageTally> rows;  // ordered: the dataset's rows by second
  for (auto& shard : shards_) {
    std::unordered_map<std::string, UsageTally, Shard::Hash, std::equal_to<>> taken;
    {
      std::lock_guard lock(shard->mu);
      taken.swap(shard->tallies);
    }
    for (auto& [k, t] : taken) rows[k].Merge(t);
  }
  const int64_t now = UnixNowMs();
  {
    std::lock_guard lock(series_mu_);
    for (const auto& [key, t] : rows) {
      const auto f = SplitKey(key);  // second, kind, route, application, consumer, deployment, version, status
      const int64_t slot = std::stoll(f[0]) * 1000 / kSlotMs * kSlotMs;
      series_[{"all", f[1]}][slot].Merge(t);
      if (!f[3].empty()) series_[{"application", f[3]}][slot].Merge(t);
      if (!f[4].empty()) series_[{"consumer", f[4]}][slot].Merge(t);
      if (!f[2].empty()) series_[{"route", f[2]}][slot].Merge(t);
      if (!f[2].empty() && !f[4].empty()) series_[{"route_consumer", f[2] + "/" + f[4]}][slot].Merge(t);
      if (!f[5].empty()) {
        series_[{"deployment", f[5]}][slot].Merge(t);
        series_[{"version", f[5] + ":" + f[6]}][slot].Merge(t);
      }
    }
    for (auto it = series_.begin(); it != series_.end();) {
      auto& slots = it->second;
      slots.erase(slots.begin(), slots.lower_bound(now - o_.retention_ms));
      it = slots.empty() ? series_.erase(it) : std::next(it);
    }
  }
  Evaluate(now);
  if (rows.empty()) return cube_ready_ || !o_.datasets ? Status::Ok() : EnsureCube();  // the first version may have been busy
  return Append(rows);
}

Status UsageService::Append(const std::map<std::string, UsageTally>& rows) {
  if (!o_.datasets) return Status::Ok();
  std::string csv =
      "time,kind,route,application,consumer,deployment,version,status,status_class,calls,errors,client_errors,slow_calls,"
      "latency_ms_sum,latency_ms_max,bytes_in,bytes_out\n";
  for (const auto& [key, t] : rows) {
    const auto f = SplitKey(key);
    const int status = std::stoi(f[7]);
    csv += Rfc3339(std::stoll(f[0])) + "," + CsvField(f[1]) + "," + CsvField(OrDash(f[2])) + "," + CsvField(OrDash(f[3])) + "," +
           CsvField(OrDash(f[4])) + "," + CsvField(OrDash(f[5])) + "," + f[6] + "," + f[7] + "," + std::to_string(status / 100) + "xx," +
           std::to_string(t.calls) + "," + std::to_string(t.errors) + "," + std::to_string(t.client_errors) + "," + std::to_string(t.slow) +
           "," + std::to_string(t.latency_sum) + "," + std::to_string(t.latency_max) + "," + std::to_string(t.bytes_in) + "," +
           std::to_string(t.bytes_out) + "\n";
  }
  Principal system;
  system.username = "system";
  bool exists = o_.datasets->Get(o_.dataset).ok();
  if (!exists) {
    auto made = o_.datasets->Create(o_.dataset, "Calls through the gateway and inferences, per second (usage analysis)",
                                    datasets::DatasetKind::kTable, system.username);
    if (!made.ok() && made.status().code() != Code::kConflict) return made.status();
  }
  auto latest = o_.datasets->LatestWhole(o_.dataset);
  datasets::Upload u;
  u.content_type = "text/csv";
  if (latest.ok() && *latest) u.append = "latest";
  using datasets::ColumnType;
  u.schema = datasets::Schema{{"time", ColumnType::kTimestamp, false},      {"kind", ColumnType::kString, false},
                              {"route", ColumnType::kString, false},        {"application", ColumnType::kString, false},
                              {"consumer", ColumnType::kString, false},     {"deployment", ColumnType::kString, false},
                              {"version", ColumnType::kInteger, false},     {"status", ColumnType::kInteger, false},
                              {"status_class", ColumnType::kString, false}, {"calls", ColumnType::kInteger, false},
                              {"errors", ColumnType::kInteger, false},      {"client_errors", ColumnType::kInteger, false},
                              {"slow_calls", ColumnType::kInteger, false},  {"latency_ms_sum", ColumnType::kFloat, false},
                              {"latency_ms_max", ColumnType::kFloat, false}, {"bytes_in", ColumnType::kInteger, false},
                              {"bytes_out", ColumnType::kInteger, false}};
  if (u.append) u.schema.reset();  // an append keeps its parent's
  u.lineage_json = json{{"source", "usage"}}.dump();
  u.message = "usage to " + Rfc3339(UnixNowMs() / 1000);
  AIMASS_RETURN_IF_ERROR(o_.datasets->AddVersionFromBytes(o_.dataset, csv, std::move(u), system).status());
  return EnsureCube();
}

Status UsageService::EnsureCube() {
  if (!o_.cubes || cube_ready_) return Status::Ok();
  if (!o_.datasets->Get(o_.dataset).ok()) return Status::Ok();  // nothing counted yet
  if (o_.cubes->Get(o_.dataset).ok()) {
    cube_ready_ = true;
    return Status::Ok();
  }
  auto dim = [](const char* n) { return json{{"name", n}, {"column", n}}; };
  auto sum = [](const char* n) { return json{{"name", n}, {"column", n}, {"agg", "sum"}}; };
  json spec = {{"name", o_.dataset},
               {"description", "Calls through the gateway and inferences (usage analysis)"},
               {"source", {{"dataset", o_.dataset}, {"version", "latest"}}},
               {"dimensions", json::array({{{"name", "time"}, {"column", "time"}, {"type", "time"}}, dim("kind"), dim("route"),
                                           dim("application"), dim("consumer"), dim("deployment"), dim("version"), dim("status"),
                                           dim("status_class")})},
               {"measures", json::array({sum("calls"), sum("errors"), sum("client_errors"), sum("slow_calls"), sum("latency_ms_sum"),
                                         {{"name", "latency_ms_max"}, {"column", "latency_ms_max"}, {"agg", "max"}}, sum("bytes_in"),
                                         sum("bytes_out"), {{"name", "error_rate"}, {"formula", "errors / calls"}},
                                         {{"name", "latency_avg_ms"}, {"formula", "latency_ms_sum / calls"}}})}};
  Principal system;
  system.username = "system";
  auto r = o_.cubes->Create(spec, system);
  if (!r.ok() && r.status().code() != Code::kConflict) {
    auto latest = o_.datasets->LatestWhole(o_.dataset);
    if (latest.ok() && *latest && (*latest)->status != "ready") return Status::Ok();  // the first version is still being written
    return r.status();
  }
  cube_ready_ = true;
  return Status::Ok();
}

Result<json> UsageService::Series(const std::string& by, const std::string& value, int64_t from_ms, int64_t to_ms, int64_t step_ms) {
  if (!KnownDim(by)) return Status::BadRequest("by is all, application, consumer, route, deployment or version");
  if (step_ms < kSlotMs || step_ms % kSlotMs) return Status::BadRequest("step must be a multiple of 10 s");
  if (to_ms <= from_ms) return Status::BadRequest("to must be after from");
  if ((to_ms - from_ms) / step_ms > 10000) return Status::BadRequest("more than 10,000 points: a larger step");
  std::lock_guard lock(series_mu_);
  json out = json::array();
  for (const auto& [k, slots] : series_) {
    if (k.first != by || (!value.empty() && k.second != value)) continue;
    std::map<int64_t, UsageTally> points;
    for (auto it = slots.lower_bound(from_ms); it != slots.end() && it->first < to_ms; ++it) {
      points[from_ms + (it->first - from_ms) / step_ms * step_ms].Merge(it->second);
    }
    UsageTally total;
    json list = json::array();
    for (const auto& [t, tally] : points) {
      json p = TallyJson(tally);
      p["t"] = Rfc3339Ms(t);
      list.push_back(std::move(p));
      total.Merge(tally);
    }
    out.push_back({{"value", k.second}, {"total", TallyJson(total)}, {"points", list}});
  }
  return json{{"by", by}, {"step_s", step_ms / 1000}, {"series", out}};
}

Result<json> UsageService::Top(const std::string& by, const std::string& metric, int64_t from_ms, int64_t to_ms, size_t limit) {
  if (!KnownDim(by)) return Status::BadRequest("by is all, application, consumer, route, deployment or version");
  if (!KnownMetric(metric)) return Status::BadRequest("metric is calls, errors, error_rate, latency_avg_ms, latency_p95_ms or bytes_out");
  std::vector<std::pair<double, json>> rows;
  {
    std::lock_guard lock(series_mu_);
    for (const auto& [k, slots] : series_) {
      if (k.first != by) continue;
      UsageTally t;
      for (auto it = slots.lower_bound(from_ms); it != slots.end() && it->first < to_ms; ++it) t.Merge(it->second);
      if (t.calls == 0) continue;
      json row = TallyJson(t);
      row["value"] = k.second;
      rows.emplace_back(MetricOf(t, metric), std::move(row));
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  json out = json::array();
  for (size_t i = 0; i < rows.size() && i < limit; ++i) out.push_back(rows[i].second);
  return json{{"by", by}, {"metric", metric}, {"top", out}};
}

Result<json> UsageService::Quota() {
  if (!o_.gateway) return Status::Unavailable("no gateway in this process");
  AIMASS_ASSIGN_OR_RETURN(auto routes, o_.gateway->Routes());
  const int64_t now = UnixNowMs();
  json out = json::array();
  std::lock_guard lock(series_mu_);
  for (const auto& [route, state] : routes) {
    if (!route.rate_limit || route.rate_limit->key != gateway::RateKey::kConsumer) continue;
    const double period_s = route.rate_limit->per_seconds();
    const int64_t window = std::max<int64_t>(kSlotMs, static_cast<int64_t>(period_s * 1000));
    for (const auto& [k, slots] : series_) {
      if (k.first != "route_consumer" || !k.second.starts_with(route.name + "/")) continue;
      uint64_t calls = 0;
      // From the slot holding the period's start: a call is never left out for sitting early in its slot.
      for (auto it = slots.lower_bound((now - window) / kSlotMs * kSlotMs); it != slots.end(); ++it) calls += it->second.calls;
      // Over the window the series can see (10 s at least): the limit scaled to it.
      const double limit = route.rate_limit->rate * static_cast<double>(window) / 1000.0 / period_s;
      out.push_back({{"route", route.name},
                     {"consumer", k.second.substr(route.name.size() + 1)},
                     {"window_s", window / 1000},
                     {"calls", calls},
                     {"limit", limit},
                     {"used", limit > 0 ? static_cast<double>(calls) / limit : 0.0}});
    }
  }
  return json{{"quota", out}};
}

Result<json> UsageService::PutRule(const json& body) {
  if (!body.is_object()) return Status::BadRequest("a rule is a JSON object");
  static const std::set<std::string> known = {"name", "metric", "by", "value", "threshold", "anomaly", "window_s", "min_calls", "webhook"};
  for (const auto& item : body.items()) {
    if (!known.count(item.key())) return Status::BadRequest("'" + item.key() + "' is not a field of an alert rule");
  }
  const std::string name = body.value("name", "");
  AIMASS_RETURN_IF_ERROR(ValidateName("rule", name, 128));
  const std::string metric = body.value("metric", "");
  if (!KnownMetric(metric)) return Status::BadRequest("metric is calls, errors, error_rate, latency_avg_ms, latency_p95_ms or bytes_out");
  const std::string by = body.value("by", "all");
  if (!KnownDim(by)) return Status::BadRequest("by is all, application, consumer, route, deployment or version");
  const bool threshold = body.contains("threshold"), anomaly = body.contains("anomaly");
  if (threshold == anomaly) return Status::BadRequest("a rule has a threshold or an anomaly (standard deviations), one of them");
  if ((threshold && !body["threshold"].is_number()) || (anomaly && (!body["anomaly"].is_number() || body["anomaly"].get<double>() <= 0))) {
    return Status::BadRequest("threshold is a number; anomaly a number of standard deviations above 0");
  }
  const json window = body.value("window_s", json(60));
  if (!window.is_number_integer() || window.get<int64_t>() < 10 || window.get<int64_t>() > 86400 || window.get<int64_t>() % 10) {
    return Status::BadRequest("window_s must be a multiple of 10 from 10 to 86400");
  }
  const json min_calls = body.value("min_calls", json(20));
  if (!min_calls.is_number_integer() || min_calls.get<int64_t>() < 1) return Status::BadRequest("min_calls must be a whole number above 0");
  const std::string webhook = body.value("webhook", "");
  if (!webhook.empty() && !webhook.starts_with("http://") && !webhook.starts_with("https://")) {
    return Status::BadRequest("webhook must be an http:// or https:// URL");
  }
  json spec = {{"name", name}, {"metric", metric}, {"by", by}, {"value", body.value("value", "")}, {"window_s", window},
               {"min_calls", min_calls}, {"webhook", webhook}};
  if (threshold) spec["threshold"] = body["threshold"];
  if (anomaly) spec["anomaly"] = body["anomaly"];
  AIMASS_RETURN_IF_ERROR(db_.Exec("INSERT INTO usage_alert_rules (name, spec) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
                                  {name, spec.dump()})
                             .status());
  return spec;
}

Result<json> UsageService::Rules() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT spec FROM usage_alert_rules ORDER BY name"));
  json out = json::array();
  for (const auto& r : rows) out.push_back(json::parse(r.Text(0), nullptr, false));
  return json{{"rules", out}};
}

Result<json> UsageService::Rule(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT spec FROM usage_alert_rules WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no alert rule '" + name + "'");
  return json::parse(rows[0].Text(0), nullptr, false);
}

Status UsageService::DeleteRule(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM usage_alert_rules WHERE name = ?", {name}));
  if (n == 0) return Status::NotFound("no alert rule '" + name + "'");
  return Status::Ok();
}

Result<json> UsageService::AlertEvents(const std::string& rule, int64_t limit) {
  if (limit < 1 || limit > 1000) return Status::BadRequest("limit must be between 1 and 1000");
  std::string sql = "SELECT id, rule, value, state, observed, threshold, webhook_status, at_ms FROM usage_alert_events";
  std::vector<storage::Value> params;
  if (!rule.empty()) sql += " WHERE rule = ?", params.emplace_back(rule);
  sql += " ORDER BY id DESC LIMIT ?";
  params.emplace_back(limit);
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(sql, params));
  json out = json::array();
  for (const auto& r : rows) {
    out.push_back({{"id", r.Int(0)}, {"rule", r.Text(1)}, {"value", r.Text(2)}, {"state", r.Text(3)}, {"observed", r.Double(4)},
                   {"threshold", r.Double(5)}, {"webhook_status", r.Int(6)}, {"at", Rfc3339Ms(r.Int(7))}});
  }
  return json{{"events", out}};
}

void UsageService::Evaluate(int64_t now_ms) {
  auto rows = db_.Query("SELECT spec FROM usage_alert_rules ORDER BY name");
  if (!rows.ok() || rows->empty()) return;
  for (const auto& row : *rows) {
    const json spec = json::parse(row.Text(0), nullptr, false);
    if (!spec.is_object()) continue;
    AlertRule rule;
    rule.name = spec.value("name", "");
    rule.metric = spec.value("metric", "");
    rule.by = spec.value("by", "all");
    rule.value = spec.value("value", "");
    rule.webhook = spec.value("webhook", "");
    rule.threshold = spec.value("threshold", 0.0);
    rule.anomaly = spec.value("anomaly", 0.0);
    rule.window_ms = spec.value("window_s", int64_t{60}) * 1000;
    rule.min_calls = spec.value("min_calls", uint64_t{20});
    rule.spec = spec;
    // The window ends at the last whole slot: the one under way is still filling.
    const int64_t end = now_ms / kSlotMs * kSlotMs;
    std::vector<std::tuple<std::string, bool, double, double>> decisions;
    {
      std::lock_guard lock(series_mu_);
      for (const auto& [k, slots] : series_) {
        if (k.first != rule.by || (!rule.value.empty() && k.second != rule.value)) continue;
        UsageTally window;
        for (auto it = slots.lower_bound(end - rule.window_ms); it != slots.end() && it->first < end; ++it) window.Merge(it->second);
        const double observed = MetricOf(window, rule.metric);
        double limit = rule.threshold;
        bool fire = window.calls >= rule.min_calls;
        if (rule.anomaly > 0) {
          // Against the hour before the window, slot by slot: mean + anomaly × sd (sd at least a
          // tenth of the mean, so that a flat baseline does not alert on noise).
          std::vector<double> base;
          for (auto it = slots.lower_bound(end - rule.window_ms - 3'600'000); it != slots.end() && it->first < end - rule.window_ms; ++it) {
            if (it->second.calls > 0) base.push_back(MetricOf(it->second, rule.metric));
          }
          if (base.size() < 6) {
            fire = false;
          } else {
            double mean = 0, var = 0;
            for (double v : base) mean += v;
            mean /= static_cast<double>(base.size());
            for (double v : base) var += (v - mean) * (v - mean);
            const double sd = std::max(std::sqrt(var / static_cast<double>(base.size())), 0.1 * std::abs(mean) + 1e-9);
            limit = mean + rule.anomaly * sd;
          }
        }
        fire = fire && observed > limit;
        decisions.emplace_back(k.second, fire, observed, limit);
      }
    }
    for (const auto& [value, fire, observed, limit] : decisions) {
      bool& state = firing_[{rule.name, value}];
      const bool was = state;
      state = fire;
      if (fire != was) Fire(rule, value, fire, observed, limit, now_ms);
    }
  }
}

void UsageService::Fire(const AlertRule& rule, const std::string& value, bool firing, double observed, double threshold, int64_t now_ms) {
  json e = {{"rule", rule.name}, {"state", firing ? "firing" : "resolved"}, {"metric", rule.metric}, {"by", rule.by}, {"value", value},
            {"observed", observed}, {"threshold", threshold}, {"window_s", rule.window_ms / 1000}, {"at", Rfc3339Ms(now_ms)}};
  if (o_.bus) o_.bus->Publish(firing ? "usage.alert.firing" : "usage.alert.resolved", e.dump());
  int webhook_status = 0;
  if (!rule.webhook.empty()) {
    http::Client client;
    http::ClientRequest req;
    req.method = http::Method::kPost;
    req.url = rule.webhook;
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = e.dump();
    req.timeout = std::chrono::seconds(5);
    auto r = client.Send(req);
    webhook_status = r.ok() ? r->status : -1;
    if (!r.ok() || r->status >= 300) {
      spdlog::warn("usage: alert {} ({}): the webhook answered {}", rule.name, value, r.ok() ? std::to_string(r->status) : r.status().message());
    }
  }
  auto st = db_.Exec("INSERT INTO usage_alert_events (rule, value, state, observed, threshold, webhook_status, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     {rule.name, value, std::string(firing ? "firing" : "resolved"), observed, threshold, int64_t{webhook_status}, now_ms});
  if (!st.ok()) spdlog::warn("usage: cannot record an alert: {}", st.status().message());
}

}  // namespace aimass::analysis
