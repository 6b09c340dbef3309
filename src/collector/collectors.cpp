#include "collector/collectors.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <filesystem>

#include "collector/directory_source.hpp"
#include "collector/file_tail_source.hpp"
#include "collector/http_source.hpp"
#include "collector/mq_source.hpp"
#include "collector/mqtt_source.hpp"
#include "collector/sql_source.hpp"
#include "auth/rbac.hpp"
#include "common/random.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "datasets/table_parser.hpp"

namespace aimass::collector {

using nlohmann::json;

namespace {

constexpr auto kRetryAfterError = std::chrono::seconds(1);
constexpr auto kPullSlice = std::chrono::milliseconds(500);
constexpr int64_t kRateWindowMs = 60000;
constexpr size_t kMaxRowBytes = 1 << 20;  // as a tailed file's longest line

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

// One collector's thread, its source and its counters.
class Collectors::Runner {
 public:
  Runner(CollectorRow row, CollectorSpec spec, std::unique_ptr<Source> source, HttpSource* http, Collectors& owner)
      : row_(std::move(row)), spec_(std::move(spec)), source_(std::move(source)), http_(http), owner_(owner) {
    paused_ = row_.paused;
  }
  ~Runner() { Stop(); }

  void Start() {
    thread_ = NamedThread("collect:" + spec_.name.substr(0, 7), [this] { Loop(); });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void SetPaused(bool paused) {
    {
      std::lock_guard lock(mu_);
      paused_ = paused;
    }
    cv_.notify_all();
  }
  HttpSource* http() { return http_; }
  Source* source() { return source_.get(); }
  const CollectorSpec& spec() const { return spec_; }

  json Stats() {
    std::lock_guard lock(mu_);
    int64_t now = UnixNowMs();
    uint64_t recent = 0;
    for (const auto& [t, n] : window_) {
      if (now - t <= kRateWindowMs) recent += n;
    }
    double span = std::min<double>(kRateWindowMs, std::max<int64_t>(1000, now - started_ms_)) / 1000.0;
    return {{"state", stop_ ? "stopped" : paused_ ? "paused" : !last_error_.empty() ? "error" : "running"},
            {"rows", rows_},
            {"batches", batches_},
            {"rejected_since_start", rejected_},
            {"rows_per_s", static_cast<double>(recent) / span},
            {"last_batch_at", last_batch_ms_ ? json(Rfc3339Ms(last_batch_ms_)) : json(nullptr)},
            {"last_version", last_version_ ? json(last_version_) : json(nullptr)},
            {"last_error", last_error_.empty() ? json(nullptr) : json(last_error_)},
            {"offset", committed_},
            {"lag", lag_}};
  }

 private:
  Result<json> LoadOffset() {
    AIMASS_ASSIGN_OR_RETURN(CollectorRow row, owner_.store_.Get(spec_.name));
    AIMASS_ASSIGN_OR_RETURN(auto last, owner_.options_.datasets->LastCollected(spec_.dataset, spec_.name));
    if (!row.offset.empty() && (!last || row.offset_version >= last->version)) return json::parse(row.offset, nullptr, false);
    if (last) {
      json lineage = json::parse(last->lineage_json, nullptr, false);
      last_version_ = last->version;
      return lineage.is_object() ? lineage.value("offset", json(nullptr)) : json(nullptr);
    }
    return json(nullptr);
  }

  Status Commit(Pulled& batch) {
    datasets::Datasets& ds = *owner_.options_.datasets;
    const int64_t now = UnixNowMs();
    AIMASS_ASSIGN_OR_RETURN(auto base, ds.LatestWhole(spec_.dataset));
    const datasets::Schema* schema = base ? &base->schema : spec_.schema ? &*spec_.schema : nullptr;
    std::string body;
    uint64_t rows = 0;
    for (size_t i = 0; i < batch.rows.size(); ++i) {
      Status fits = schema ? datasets::CheckRecord(*schema, batch.rows[i]) : Status::Ok();
      if (!schema) {
        // The first version's schema comes from these rows: names it could not take are refused
        // here, one row at a time, rather than failing the whole batch again and again.
        if (batch.rows[i].size() > 4096) fits = Status::BadRequest("more than 4,096 members");
        for (auto it = batch.rows[i].begin(); fits.ok() && it != batch.rows[i].end(); ++it) {
          if (it.key().empty() || it.key().size() > 256) fits = Status::BadRequest("a member name is 1 to 256 bytes");
        }
      }
      if (!fits.ok()) {
        batch.rejected.push_back({batch.positions[i], Dump(batch.rows[i]).substr(0, 4096), fits.message()});
        continue;
      }
      body += Dump(batch.rows[i]);
      body += '\n';
      ++rows;
    }
    const int64_t base_version = base ? base->version : 0;
    if (rows == 0) {
      // Only rejections: they and the progress past them are stored together.
      AIMASS_RETURN_IF_ERROR(owner_.store_.Reject(spec_.name, batch.rejected, now, std::make_pair(Dump(batch.offset), base_version)));
      return Status::Ok();
    }
    if (!batch.rejected.empty()) AIMASS_RETURN_IF_ERROR(owner_.store_.Reject(spec_.name, batch.rejected, now));
    datasets::Upload u;
    u.content_type = "application/x-ndjson";
    if (base) {
      u.append = "latest";
    } else if (spec_.schema) {
      u.schema = spec_.schema;
    }
    u.lineage_json = Dump({{"source", "collector"}, {"collector", spec_.name}, {"source_type", SourceTypeName(spec_.type)},
                           {"offset", batch.offset}, {"rows", rows}});
    u.collector = spec_.name;
    u.message = "collector " + spec_.name + ": " + std::to_string(rows) + " rows";
    Principal who;
    who.username = row_.owner;
    AIMASS_ASSIGN_OR_RETURN(datasets::AddedVersion added, ds.AddVersionFromBytes(spec_.dataset, body, std::move(u), who));
    if (!added.created) {
      // The same content as a version that exists: the progress is stored here instead.
      AIMASS_RETURN_IF_ERROR(owner_.store_.Reject(spec_.name, {}, now, std::make_pair(Dump(batch.offset), added.version.version)));
    }
    std::lock_guard lock(mu_);
    rows_ += rows;
    last_version_ = added.version.version;
    window_.emplace_back(now, rows);
    while (!window_.empty() && now - window_.front().first > kRateWindowMs) window_.pop_front();
    return Status::Ok();
  }

  void Loop() {
    started_ms_ = UnixNowMs();
    bool opened = false;
    while (true) {
      {
        std::unique_lock lock(mu_);
        if (paused_ && !stop_) {
          // Paused: the lag is still kept current (an http collector's spool grows meanwhile).
          cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_ || !paused_; });
          if (paused_ && !stop_) {
            lock.unlock();
            json lag = opened ? source_->Lag() : json::object();
            lock.lock();
            lag_ = lag;
            continue;
          }
        }
        if (stop_) return;
      }
      if (!opened) {
        auto offset = LoadOffset();
        Status st = offset.ok() ? source_->Open(*offset) : offset.status();
        if (!st.ok()) {
          Fail(st);
          continue;
        }
        std::lock_guard lock(mu_);
        committed_ = *offset;
        opened = true;
      }
      Pulled batch;
      const auto max_wait = std::chrono::milliseconds(static_cast<int64_t>(spec_.max_wait_s * 1000));
      Status st = source_->Pull(spec_.max_rows, std::min(kPullSlice, max_wait), batch);
      const auto first = std::chrono::steady_clock::now();
      while (st.ok() && batch.rows.size() + batch.rejected.size() > 0 && batch.rows.size() + batch.rejected.size() < spec_.max_rows) {
        auto left = first + max_wait - std::chrono::steady_clock::now();
        if (left <= std::chrono::milliseconds(0) || Stopping()) break;
        st = source_->Pull(spec_.max_rows - batch.rows.size() - batch.rejected.size(),
                           std::min(kPullSlice, std::chrono::duration_cast<std::chrono::milliseconds>(left)), batch);
      }
      json lag = source_->Lag();
      {
        std::lock_guard lock(mu_);
        lag_ = lag;
      }
      if (st.ok() && batch.rows.empty() && batch.rejected.empty()) {
        // Nothing new, though a source may have moved (a file rotated, a cursor's run done).
        continue;
      }
      if (st.ok()) {
        try {
          st = Commit(batch);
        } catch (const std::exception& e) {
          st = Status::Internal(std::string("storing the batch threw: ") + e.what());
        }
      }
      if (!st.ok()) {
        Fail(st);
        opened = false;  // back to what is stored
        continue;
      }
      source_->Committed(batch.offset);
      std::lock_guard lock(mu_);
      committed_ = batch.offset;
      rejected_ += batch.rejected.size();
      ++batches_;
      last_batch_ms_ = UnixNowMs();
      last_error_.clear();
    }
  }

  bool Stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  void Fail(const Status& st) {
    spdlog::warn("collector {}: {}", spec_.name, st.message());
    std::unique_lock lock(mu_);
    last_error_ = st.message();
    cv_.wait_for(lock, kRetryAfterError, [this] { return stop_; });
  }

  CollectorRow row_;
  CollectorSpec spec_;
  std::unique_ptr<Source> source_;
  HttpSource* http_;
  Collectors& owner_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, paused_ = false;
  uint64_t rows_ = 0, rejected_ = 0, batches_ = 0;
  int64_t last_batch_ms_ = 0, last_version_ = 0, started_ms_ = 0;
  std::string last_error_;
  json committed_, lag_ = json::object();
  std::deque<std::pair<int64_t, uint64_t>> window_;
};

Collectors::Collectors(storage::Db& db, CollectorsOptions options) : store_(db), options_(std::move(options)) {}

Collectors::~Collectors() { Stop(); }

Result<std::shared_ptr<Collectors::Runner>> Collectors::MakeRunner(const CollectorRow& row) {
  json doc = json::parse(row.spec, nullptr, false);
  AIMASS_ASSIGN_OR_RETURN(CollectorSpec spec, ParseCollectorSpec(doc));
  std::unique_ptr<Source> source;
  HttpSource* http = nullptr;
  switch (spec.type) {
    case SourceType::kFileTail:
      source = std::make_unique<FileTailSource>(spec.source);
      break;
    case SourceType::kDirectory:
      source = std::make_unique<DirectorySource>(spec.source);
      break;
    case SourceType::kHttp: {
      auto h = std::make_unique<HttpSource>(options_.dir + "/" + spec.name + "/spool");
      AIMASS_RETURN_IF_ERROR(h->Init());
      http = h.get();
      source = std::move(h);
      break;
    }
    case SourceType::kMq:
      if (!options_.broker) return Status::Unavailable("the message queue is not open in this process");
      source = std::make_unique<MqSource>(*options_.broker, spec.name, spec.source);
      break;
    case SourceType::kMqtt: {
      auto m = std::make_unique<MqttSource>(spec.name, spec.source, options_.dir + "/" + spec.name + "/spool");
      AIMASS_RETURN_IF_ERROR(m->Init());
      source = std::move(m);
      break;
    }
    case SourceType::kSql: {
      AIMASS_ASSIGN_OR_RETURN(scheduler::Schedule schedule, scheduler::Schedule::Parse(spec.schedule, spec.time_zone));
      source = std::make_unique<SqlSource>(spec.source, std::move(schedule));
      break;
    }
  }
  return std::make_shared<Runner>(row, std::move(spec), std::move(source), http, *this);
}

Status Collectors::Start() {
  if (!options_.run) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.List());
  std::lock_guard lock(mu_);
  for (const auto& row : rows) {
    auto runner = MakeRunner(row);
    if (!runner.ok()) {
      spdlog::error("collector {} cannot start: {}", row.name, runner.status().message());
      continue;
    }
    (*runner)->Start();
    runners_[row.name] = std::move(*runner);
  }
  return Status::Ok();
}

void Collectors::Stop() {
  std::map<std::string, std::shared_ptr<Runner>> runners;
  {
    std::lock_guard lock(mu_);
    runners.swap(runners_);
  }
  for (auto& [name, r] : runners) r->Stop();
}

json Collectors::Describe(const CollectorRow& row, Runner* runner) {
  json doc = json::parse(row.spec, nullptr, false);
  auto spec = ParseCollectorSpec(doc);
  json j = spec.ok() ? SpecJson(*spec, false) : json::object();
  j["owner"] = row.owner;
  j["paused"] = row.paused;
  j["created_at"] = Rfc3339Ms(row.created_ms);
  auto rejected = store_.RejectedCount(row.name);
  j["rejected"] = rejected.ok() ? *rejected : 0;
  if (runner) {
    j["status"] = runner->Stats();
  } else {
    j["status"] = {{"state", options_.run ? "stopped" : "elsewhere"}};
  }
  if (spec.ok() && spec->type == SourceType::kHttp) j["push_url"] = "/api/v1/collect/" + row.name;
  return j;
}

Result<json> Collectors::Create(const CollectorSpec& spec, bool paused, const Principal& who) {
  // Reading files of the host is reading as the platform's user: for those granted it, and
  // never the platform's own data (its database holds users and tokens).
  std::string path;
  if (spec.type == SourceType::kFileTail || spec.type == SourceType::kDirectory ||
      (spec.type == SourceType::kSql && spec.source.value("driver", "") == "sqlite")) {
    if (!auth::Allows(who.permissions, "collectors:files")) {
      return Status::Forbidden("a collector of the host's files needs collectors:files");
    }
    path = spec.source["path"].get<std::string>();
  }
  if (!path.empty()) {
    std::error_code ec;
    auto target = std::filesystem::weakly_canonical(path, ec).string();
    auto data = std::filesystem::weakly_canonical(options_.data_dir, ec).string();
    if (!data.empty() && (target == data || target.rfind(data + "/", 0) == 0)) {
      return Status::Forbidden("collectors do not read the platform's data directory");
    }
  }
  AIMASS_RETURN_IF_ERROR(options_.datasets->Get(spec.dataset).status());
  if (spec.type == SourceType::kMq && !options_.broker) return Status::BadRequest("the message queue is not open in this process");
  CollectorRow row;
  row.name = spec.name;
  row.dataset = spec.dataset;
  row.spec = Dump(SpecJson(spec, true));
  row.owner = who.username;
  row.paused = paused;
  row.created_ms = row.updated_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.Create(row));
  // A spool left by a collector of the same name, deleted (or lost with a crash), is not this
  // one's; removed only now that the name is this collector's.
  std::error_code ec;
  std::filesystem::remove_all(options_.dir + "/" + spec.name, ec);
  Runner* r = nullptr;
  if (options_.run) {
    auto runner = MakeRunner(row);
    if (!runner.ok()) {
      (void)store_.Delete(row.name);
      return runner.status();
    }
    std::lock_guard lock(mu_);
    r = runner->get();
    (*runner)->Start();
    runners_[row.name] = std::move(*runner);
  }
  return Describe(row, r);
}

Result<json> Collectors::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(CollectorRow row, store_.Get(name));
  std::lock_guard lock(mu_);
  auto it = runners_.find(name);
  return Describe(row, it == runners_.end() ? nullptr : it->second.get());
}

Result<json> Collectors::List() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.List());
  json out = json::array();
  std::lock_guard lock(mu_);
  for (const auto& row : rows) {
    auto it = runners_.find(row.name);
    out.push_back(Describe(row, it == runners_.end() ? nullptr : it->second.get()));
  }
  return out;
}

Status Collectors::Delete(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(store_.Get(name).status());
  std::shared_ptr<Runner> runner;
  {
    std::lock_guard lock(mu_);
    auto it = runners_.find(name);
    if (it != runners_.end()) {
      runner = std::move(it->second);
      runners_.erase(it);
    }
  }
  if (runner) {
    runner->Stop();
    if (auto* mq = dynamic_cast<MqSource*>(runner->source())) mq->Drop();
  }
  AIMASS_RETURN_IF_ERROR(store_.Delete(name));
  std::error_code ec;
  std::filesystem::remove_all(options_.dir + "/" + name, ec);
  return Status::Ok();
}

Result<json> Collectors::SetPaused(const std::string& name, bool paused) {
  AIMASS_RETURN_IF_ERROR(store_.SetPaused(name, paused));
  {
    std::lock_guard lock(mu_);
    auto it = runners_.find(name);
    if (it != runners_.end()) it->second->SetPaused(paused);
  }
  return Get(name);
}

Result<json> Collectors::Rejected(const std::string& name, int64_t limit, int64_t offset) {
  AIMASS_RETURN_IF_ERROR(store_.Get(name).status());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Rejections(name, limit, offset));
  json out = json::array();
  for (const auto& r : rows) {
    out.push_back({{"id", r.id}, {"position", r.position}, {"row", r.row}, {"reason", r.reason}, {"time", Rfc3339Ms(r.time_ms)}});
  }
  return out;
}

Result<PushResult> Collectors::Push(const std::string& name, std::string_view body) {
  HttpSource* http = nullptr;
  std::shared_ptr<Runner> holder;  // keeps the spool alive for the whole push
  {
    std::lock_guard lock(mu_);
    auto it = runners_.find(name);
    if (it != runners_.end()) {
      holder = it->second;
      http = holder->http();
    }
  }
  if (!http) {
    AIMASS_ASSIGN_OR_RETURN(CollectorRow row, store_.Get(name));
    if (!options_.run) return Status::Unavailable("collector '" + name + "' runs in another process");
    return Status::BadRequest("collector '" + name + "' is not an http collector");
  }
  std::vector<std::string> lines;
  std::vector<collector::Rejected> rejected;
  const std::string batch = "push:" + std::to_string(UnixNowMs()) + ":" + RandomHex(4) + ":";
  auto take = [&](const json& row, std::string_view raw, size_t n) {
    if (row.is_object()) {
      std::string line = Dump(row);
      if (line.size() > kMaxRowBytes) {
        rejected.push_back({batch + std::to_string(n), std::string(raw.substr(0, 4096)), "the row is longer than 1 MiB"});
        return;
      }
      lines.push_back(std::move(line));
    } else {
      rejected.push_back({batch + std::to_string(n), std::string(raw.substr(0, 4096)),
                          row.is_discarded() ? "not valid JSON" : "not a JSON object"});
    }
  };
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && body[first] == '[') {
    json all = json::parse(body, nullptr, false);
    if (!all.is_array()) return Status::InvalidJson("the body starts a JSON array that does not parse");
    size_t n = 0;
    for (const auto& row : all) take(row, Dump(row), ++n);
  } else {
    size_t start = 0, n = 0;
    while (start < body.size()) {
      size_t nl = body.find('\n', start);
      std::string_view line = body.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
      start = nl == std::string_view::npos ? body.size() : nl + 1;
      ++n;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (line.empty()) continue;
      take(json::parse(line, nullptr, false), line, n);
    }
  }
  if (!rejected.empty()) AIMASS_RETURN_IF_ERROR(store_.Reject(name, rejected, UnixNowMs()));
  if (!lines.empty()) AIMASS_RETURN_IF_ERROR(http->Append(lines).status());
  return PushResult{lines.size(), rejected.size()};
}

}  // namespace aimass::collector
