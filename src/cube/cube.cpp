#include "cube/cube.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "common/name.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "cube/anomaly.hpp"
#include "cube/cube_builder.hpp"
#include "cube/sql.hpp"
#include "datasets/datasets.hpp"
#include "events/bus.hpp"
#include "olap/chunk_builder.hpp"

namespace aimass::cube {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int64_t kFlushMs = 5000;
constexpr size_t kMaxMembers = 10000;
const std::set<std::string> kCharts = {"table", "bars", "lines", "heatmap"};

// The coarsest time grain a pre-aggregation could keep and still answer `needs` (nullopt:
// no time needed); false when none can (a bound inside an hour).
bool GrainFor(const QueryNeeds& needs, std::optional<olap::TimeLevel>* grain) {
  grain->reset();
  if (needs.time_levels.empty() && needs.time_bounds.empty()) return true;
  for (olap::TimeLevel g : {olap::TimeLevel::kYear, olap::TimeLevel::kQuarter, olap::TimeLevel::kMonth, olap::TimeLevel::kWeek,
                            olap::TimeLevel::kDay, olap::TimeLevel::kHour}) {
    olap::Table probe;
    probe.schema.has_time = true;
    probe.schema.time_level = g;
    if (CanAnswer(probe, QueryNeeds{{}, needs.time_levels, needs.time_bounds})) {
      *grain = g;
      return true;
    }
  }
  return false;
}

// The code levels a pre-aggregation keeps for `levels`: each with the coarser levels of its
// hierarchy, which it determines.
std::vector<std::string> WithCoarser(const CubeSpec& spec, const std::vector<std::string>& levels) {
  std::vector<std::string> out;
  for (const auto& l : levels) {
    const DimensionSpec* d = spec.DimensionOf(l);
    if (!d || d->time) continue;
    for (const auto& lv : d->levels) {
      if (std::find(out.begin(), out.end(), lv.name) == out.end()) out.push_back(lv.name);
      if (lv.name == l) break;
    }
  }
  return out;
}

std::optional<olap::TimeLevel> TimeOf(const CubeSpec& spec, const std::vector<std::string>& levels) {
  for (const auto& l : levels) {
    const DimensionSpec* d = spec.DimensionOf(l);
    if (!d || !d->time) continue;
    if (l == d->name) return olap::TimeLevel::kDay;
    return olap::ParseTimeLevel(l.substr(d->name.size() + 1));
  }
  return std::nullopt;
}

}  // namespace

CubeService::CubeService(storage::Db& db, CubeOptions options) : store_(db), options_(std::move(options)) {}

CubeService::~CubeService() { Stop(); }

std::string CubeService::CubeDir(const std::string& name) const { return options_.dir + "/" + name; }

void CubeService::LoadFiles(Cube& c) {
  auto base = olap::LoadTable(CubeDir(c.row.name) + "/base");
  if (!base.ok()) {
    if (base.status().code() != Code::kNotFound) spdlog::warn("cube {}: {} (it is rebuilt)", c.row.name, base.status().message());
    return;
  }
  const json& extra = base->second;
  if (!extra.contains("segments") || !extra["segments"].is_array() || !extra.contains("version") || !extra["version"].is_number_integer()) {
    spdlog::warn("cube {}: its files do not say what they were built from (they are rebuilt)", c.row.name);
    return;
  }
  c.base = base->first;
  for (const auto& d : extra["segments"]) c.segments.push_back(d.is_string() ? d.get<std::string>() : "");
  c.row.source_version = extra.value("version", int64_t{0});
  c.row.rows = static_cast<int64_t>(c.base->rows);
  c.generation = 1;
  for (const auto& p : c.spec.pre_aggregations) {
    auto pre = olap::LoadTable(CubeDir(c.row.name) + "/pre/" + p.name);
    if (!pre.ok() || !pre->second.is_object()) continue;
    PreAggregate pa;
    pa.table = pre->first;
    // Fresh when built from this base table and with the levels the definition asks now.
    const json& e = pre->second;
    const bool fresh = e.contains("base_version") && e["base_version"] == c.row.source_version && e.contains("base_rows") &&
                       e["base_rows"] == c.row.rows && e.contains("dimensions") && e["dimensions"] == json(p.dimensions);
    pa.built_from = fresh ? c.generation : 0;
    pa.state = fresh ? "ready" : "pending";
    pa.built_ms = e.contains("built_ms") && e["built_ms"].is_number_integer() ? e["built_ms"].get<int64_t>() : 0;
    c.pre[p.name] = std::move(pa);
  }
}

Status CubeService::Open() {
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) return Status::Internal("cannot create the cube directory " + options_.dir + ": " + ec.message());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.List());
  std::set<std::string> known;
  for (auto& row : rows) {
    auto spec = CubeSpec::Parse(json::parse(row.spec, nullptr, false));
    if (!spec.ok()) {
      spdlog::error("cube {}: its stored definition no longer parses: {}", row.name, spec.status().message());
      continue;
    }
    auto c = std::make_shared<Cube>();
    c->row = row;
    c->spec = std::move(*spec);
    LoadFiles(*c);
    known.insert(row.name);
    cubes_[row.name] = c;
  }
  // A crash between making a cube's directory and its row (or during a delete) leaves a
  // directory nobody owns.
  for (const auto& d : fs::directory_iterator(options_.dir, ec)) {
    if (d.is_directory() && !known.count(d.path().filename().string())) fs::remove_all(d.path(), ec);
  }
  if (options_.bus) {
    subscription_ = options_.bus->Subscribe("dataset.version.ready", [this](const events::Event& ev) {
      json d = json::parse(ev.data, nullptr, false);
      if (!d.is_object() || !d.contains("dataset") || !d["dataset"].is_string()) return;
      std::lock_guard lock(mu_);
      for (auto& [name, c] : cubes_) {
        if (c->spec.dataset == d["dataset"]) c->build_requested = true;
      }
      cv_.notify_all();
    });
  }
  worker_ = std::thread([this] { Work(); });
  return Status::Ok();
}

void CubeService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (subscription_ && options_.bus) options_.bus->Unsubscribe(subscription_);
  if (worker_.joinable()) worker_.join();
  FlushQueryLog();
}

void CubeService::Work() {
  int64_t last_check = UnixNowMs(), last_flush = UnixNowMs();
  for (;;) {
    std::vector<std::shared_ptr<Cube>> cubes;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      for (auto& [n, c] : cubes_) cubes.push_back(c);
    }
    bool worked = false;
    for (const auto& c : cubes) {
      if (Step(c)) {
        worked = true;
        break;  // look again at every cube: stopping, deletes and new requests come first
      }
    }
    const int64_t now = UnixNowMs();
    if (now - last_flush >= kFlushMs) {
      FlushQueryLog();
      last_flush = now;
    }
    if (worked) continue;
    std::unique_lock lock(mu_);
    if (now - last_check >= options_.recheck_ms) {
      // Aliases move and versions come from other processes: look at every source now and then.
      for (auto& [n, c] : cubes_) c->build_requested = true;
      last_check = now;
      continue;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
  }
}

bool CubeService::Step(const std::shared_ptr<Cube>& c) {
  std::vector<PreAggregationSpec> todo;
  {
    std::lock_guard lock(mu_);
    if (c->build_requested) {
      c->build_requested = false;
      c->building = true;
    } else {
      if (!c->base) return false;
      for (const auto& p : c->spec.pre_aggregations) {
        auto it = c->pre.find(p.name);
        if (it == c->pre.end() || (it->second.built_from != c->generation && it->second.state != "failed")) {
          todo.push_back(p);
          break;
        }
      }
      if (todo.empty()) return false;
    }
  }
  if (todo.empty()) {
    const int64_t before = c->generation;
    Status st = BuildBase(c);
    std::lock_guard lock(mu_);
    c->building = false;
    if (!st.ok()) {
      // Sources are looked at every few seconds: a failure is logged when it changes, not each time.
      if (st.message() != c->row.error) spdlog::warn("cube {}: build: {}", c->row.name, st.message());
      c->row.error = st.message();
      if (!c->base) c->row.state = "failed";
      (void)store_.SetBuilt(c->row.name, c->row.state, c->row.error, c->row.source_version, c->row.rows, c->row.built_ms);
    }
    return c->generation != before || !st.ok();
  }
  Status st = BuildPre(c, todo[0]);
  if (!st.ok()) {
    spdlog::warn("cube {}: pre-aggregation {}: {}", c->row.name, todo[0].name, st.message());
    std::lock_guard lock(mu_);
    auto& pa = c->pre[todo[0].name];
    pa.state = "failed";
    pa.error = st.message();
  }
  return true;
}

Status CubeService::BuildBase(const std::shared_ptr<Cube>& c) {
  if (!options_.datasets) return Status::Unavailable("this process has no datasets module to build cubes from");
  CubeSpec spec;
  std::shared_ptr<const olap::Table> base;
  std::vector<std::string> segments;
  {
    std::lock_guard lock(mu_);
    spec = c->spec;
    base = c->base;
    segments = c->segments;
  }
  AIMASS_ASSIGN_OR_RETURN(auto v, options_.datasets->Resolve(spec.dataset, spec.version));
  if (v.status == "building") {
    // Not ready yet: its ready event asks again.
    return Status::Ok();
  }
  if (v.status != "ready") return Status::Conflict("version " + std::to_string(v.version) + " of '" + spec.dataset + "' is " + v.status);
  AIMASS_ASSIGN_OR_RETURN(datasets::Table source, options_.datasets->OpenTable(v));
  std::vector<std::string> digests;
  for (size_t s = 0; s < source.segment_count(); ++s) digests.push_back(source.segment_digest(s));
  if (base && digests == segments) {
    std::lock_guard lock(mu_);
    if (c->row.source_version != v.version || !c->row.error.empty() || c->row.state != "ready") {
      c->row.source_version = v.version;
      c->row.error.clear();
      c->row.state = "ready";
      return store_.SetBuilt(c->row.name, "ready", "", v.version, c->row.rows, c->row.built_ms);
    }
    return Status::Ok();
  }
  // An appended version starts with the segments already in the table: only the rest is read.
  size_t first = 0;
  const olap::Table* prev = nullptr;
  if (base && segments.size() <= digests.size() && std::equal(segments.begin(), segments.end(), digests.begin())) {
    first = segments.size();
    prev = base.get();
  }
  const auto started = std::chrono::steady_clock::now();
  BuildStats stats;
  const size_t others = MemoryBesides(c.get());
  const size_t left = options_.data_memory > others ? options_.data_memory - others : 0;
  AIMASS_ASSIGN_OR_RETURN(auto table, BuildCubeTable(spec, source, first, prev, options_.threads > 0 ? options_.threads : 2, left, &stats));
  const json extra = {{"dataset", spec.dataset}, {"version", v.version}, {"segments", digests}};
  AIMASS_RETURN_IF_ERROR(olap::SaveTable(*table, CubeDir(spec.name) + "/base", extra));
  const int64_t now = UnixNowMs();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  {
    std::lock_guard lock(mu_);
    c->base = table;
    c->segments = digests;
    ++c->generation;
    c->row.state = "ready";
    c->row.error.clear();
    c->row.source_version = v.version;
    c->row.rows = static_cast<int64_t>(table->rows);
    c->row.built_ms = now;
  }
  spdlog::info("cube {}: built from {} v{} ({} rows read, {} skipped without a time, {} appended) in {:.2f} s", spec.name,
               spec.dataset, v.version, stats.rows_read, stats.rows_skipped, first ? "only new segments" : "all", took);
  AIMASS_RETURN_IF_ERROR(store_.SetBuilt(spec.name, "ready", "", v.version, static_cast<int64_t>(table->rows), now));
  if (options_.bus) {
    options_.bus->Publish("cube.refreshed", json{{"cube", spec.name}, {"dataset", spec.dataset}, {"version", v.version},
                                                 {"rows", table->rows}, {"incremental", first > 0}}
                                                .dump());
  }
  return Status::Ok();
}

Status CubeService::BuildPre(const std::shared_ptr<Cube>& c, const PreAggregationSpec& p) {
  std::shared_ptr<const olap::Table> base;
  CubeSpec spec;
  int64_t generation, version, rows;
  {
    std::lock_guard lock(mu_);
    base = c->base;
    spec = c->spec;
    generation = c->generation;
    version = c->row.source_version;
    rows = c->row.rows;
  }
  std::vector<size_t> cols;
  for (const auto& l : WithCoarser(spec, p.dimensions)) {
    const auto& cc = base->schema.code_columns;
    cols.push_back(static_cast<size_t>(std::find(cc.begin(), cc.end(), l) - cc.begin()));
  }
  AIMASS_ASSIGN_OR_RETURN(auto table, olap::BuildPreAggregate(*base, cols, TimeOf(spec, p.dimensions), options_.threads, options_.query_memory));
  const size_t others = MemoryBesides(c.get()) + base->memory();
  if (others + table->memory() > options_.data_memory) {
    return Status::TooLarge("pre-aggregation '" + p.name + "' needs " + std::to_string(table->memory() >> 20) +
                            " MiB, more than cube.memory_mb leaves for it");
  }
  const int64_t now = UnixNowMs();
  const json extra = {{"base_version", version}, {"base_rows", rows}, {"dimensions", p.dimensions}, {"built_ms", now}};
  AIMASS_RETURN_IF_ERROR(olap::SaveTable(*table, CubeDir(spec.name) + "/pre/" + p.name, extra));
  std::lock_guard lock(mu_);
  PreAggregate& pa = c->pre[p.name];
  pa.table = table;
  pa.built_from = generation;
  pa.state = "ready";
  pa.error.clear();
  pa.built_ms = now;
  return Status::Ok();
}

size_t CubeService::MemoryBesides(const Cube* c) {
  std::lock_guard lock(mu_);
  size_t used = 0;
  for (const auto& [n, other] : cubes_) {
    // The cube being built counts its pre-aggregations; its base table is the one replaced.
    if (other.get() != c && other->base) used += other->base->memory();
    for (const auto& [pn, pa] : other->pre) {
      if (pa.table) used += pa.table->memory();
    }
  }
  return used;
}

void CubeService::FlushQueryLog() {
  std::vector<QueryLogRow> rows;
  {
    std::lock_guard lock(mu_);
    const int64_t now = UnixNowMs();
    for (auto& [name, c] : cubes_) {
      for (const auto& [sig, n] : c->query_log) rows.push_back({name, sig, n, now});
      c->query_log.clear();
    }
  }
  if (rows.empty()) return;
  Status st = store_.LogQueries(rows);
  if (!st.ok()) spdlog::warn("cube: query log: {}", st.message());
}

Result<std::shared_ptr<CubeService::Cube>> CubeService::Find(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = cubes_.find(name);
  if (it == cubes_.end()) return Status::NotFound("no cube '" + name.substr(0, 128) + "'");
  return it->second;
}

json CubeService::Describe(const Cube& c) {
  json j = c.spec.ToJson();
  j["owner"] = c.row.owner;
  j["state"] = c.row.state;
  if (!c.row.error.empty()) j["error"] = c.row.error;
  j["source"]["built_version"] = c.row.source_version ? json(c.row.source_version) : json(nullptr);
  j["rows"] = c.base ? c.base->rows : 0;
  j["chunks"] = c.base ? c.base->chunks.size() : 0;
  j["memory_bytes"] = c.base ? c.base->memory() : 0;
  j["built_at"] = c.row.built_ms ? json(Rfc3339Ms(c.row.built_ms)) : json(nullptr);
  j["created_at"] = Rfc3339Ms(c.row.created_ms);
  j["updated_at"] = Rfc3339Ms(c.row.updated_ms);
  json levels = json::array();
  for (const auto& d : c.spec.dimensions) {
    json l = json::array();
    if (d.time) {
      for (const char* t : {"year", "quarter", "month", "week", "day", "hour", "weekday", "hour_of_day"}) l.push_back(d.name + "." + t);
    } else {
      for (const auto& lv : d.levels) l.push_back(lv.name);
    }
    levels.push_back({{"dimension", d.name}, {"time", d.time}, {"levels", l}});
  }
  j["levels"] = levels;
  json pre = json::array();
  for (const auto& p : c.spec.pre_aggregations) {
    json o = {{"name", p.name}, {"dimensions", p.dimensions}, {"state", "pending"}};
    auto it = c.pre.find(p.name);
    if (it != c.pre.end()) {
      const bool fresh = it->second.built_from == c.generation && it->second.table;
      o["state"] = it->second.state == "failed" ? "failed" : fresh ? "ready" : "pending";
      if (!it->second.error.empty()) o["error"] = it->second.error;
      if (it->second.table) o["rows"] = it->second.table->rows;
      if (it->second.built_ms) o["built_at"] = Rfc3339Ms(it->second.built_ms);
    }
    pre.push_back(o);
  }
  j["pre_aggregations"] = pre;
  return j;
}

Result<json> CubeService::Create(const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(CubeSpec spec, CubeSpec::Parse(body));
  if (!options_.datasets) return Status::Unavailable("this process has no datasets module to build cubes from");
  AIMASS_ASSIGN_OR_RETURN(auto v, options_.datasets->Resolve(spec.dataset, spec.version));
  AIMASS_RETURN_IF_ERROR(CheckSource(spec, v.schema));
  CubeRow row;
  row.name = spec.name;
  row.owner = who.username;
  row.spec = spec.ToJson().dump();
  row.created_ms = row.updated_ms = UnixNowMs();
  {
    std::lock_guard lock(mu_);
    if (cubes_.count(spec.name)) return Status::Conflict("cube '" + spec.name + "' exists");
  }
  AIMASS_RETURN_IF_ERROR(store_.Create(row));
  auto c = std::make_shared<Cube>();
  c->row = row;
  c->spec = spec;
  {
    std::lock_guard lock(mu_);
    cubes_[spec.name] = c;
    cv_.notify_all();
    return Describe(*c);
  }
}

Result<json> CubeService::List() {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& [n, c] : cubes_) out.push_back(Describe(*c));
  return json{{"cubes", out}};
}

Result<json> CubeService::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  std::lock_guard lock(mu_);
  return Describe(*c);
}

Result<json> CubeService::Update(const std::string& name, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  if (!body.is_object()) return Status::InvalidJson("the body is a JSON object {description, pre_aggregations}");
  for (const auto& [k, v] : body.items()) {
    if (k != "description" && k != "pre_aggregations") {
      return Status::BadRequest("only description and pre_aggregations change; '" + k.substr(0, 64) + "' is fixed (make a new cube)");
    }
  }
  CubeSpec spec;
  {
    std::lock_guard lock(mu_);
    spec = c->spec;
  }
  json j = spec.ToJson();
  for (const auto& [k, v] : body.items()) j[k] = v;
  AIMASS_ASSIGN_OR_RETURN(CubeSpec next, CubeSpec::Parse(j));
  const int64_t now = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.SetSpec(name, next.ToJson().dump(), now));
  std::lock_guard lock(mu_);
  std::set<std::string> keep;
  for (const auto& p : next.pre_aggregations) keep.insert(p.name);
  for (auto it = c->pre.begin(); it != c->pre.end();) {
    // A pre-aggregation dropped, or kept under its name with other levels, goes.
    const PreAggregationSpec* now_spec = nullptr;
    for (const auto& p : next.pre_aggregations) {
      if (p.name == it->first) now_spec = &p;
    }
    const PreAggregationSpec* old_spec = nullptr;
    for (const auto& p : c->spec.pre_aggregations) {
      if (p.name == it->first) old_spec = &p;
    }
    if (!now_spec || !old_spec || now_spec->dimensions != old_spec->dimensions) {
      std::error_code ec;
      fs::remove_all(CubeDir(name) + "/pre/" + it->first, ec);
      it = c->pre.erase(it);
    } else {
      ++it;
    }
  }
  c->spec = std::move(next);
  c->row.updated_ms = now;
  cv_.notify_all();
  return Describe(*c);
}

Status CubeService::Delete(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(Find(name).status());
  AIMASS_RETURN_IF_ERROR(store_.Delete(name));
  std::shared_ptr<Cube> c;
  {
    std::lock_guard lock(mu_);
    c = cubes_[name];
    cubes_.erase(name);
  }
  // A build of it in progress finishes into a directory removed here or at the next start.
  std::error_code ec;
  fs::remove_all(CubeDir(name), ec);
  return Status::Ok();
}

Result<json> CubeService::Refresh(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  std::lock_guard lock(mu_);
  c->build_requested = true;
  cv_.notify_all();
  return Describe(*c);
}

Result<json> CubeService::Query(const std::string& name, const json& body) {
  const auto started = std::chrono::steady_clock::now();
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  CubeSpec spec;
  std::shared_ptr<const olap::Table> base;
  std::vector<std::pair<std::string, std::shared_ptr<const olap::Table>>> pres;
  int64_t version;
  std::string state, error;
  {
    std::lock_guard lock(mu_);
    spec = c->spec;
    base = c->base;
    version = c->row.source_version;
    state = c->row.state;
    error = c->row.error;
    for (const auto& [n, p] : c->pre) {
      if (p.table && p.built_from == c->generation) pres.emplace_back(n, p.table);
    }
  }
  AIMASS_ASSIGN_OR_RETURN(QuerySpec q, ParseQuery(body, spec));
  if (!base) return Status::Conflict("cube '" + name + "' is " + (state == "failed" ? "failed: " + error : "still being built"));
  AIMASS_ASSIGN_OR_RETURN(QueryNeeds needs, NeedsOf(spec, q));
  // The cheapest ready pre-aggregation that holds what the query needs, unless told otherwise:
  // its rows, and the distinct values it keeps for the query's count-distinct measures.
  std::vector<std::string> distinct;
  for (const auto& m : q.measures) {
    const MeasureSpec* ms = spec.Measure(m);
    std::vector<std::string> used_names = {m};
    if (ms->agg == MeasureAgg::kDerived) used_names = olap::Expression::Parse(ms->formula)->Names();
    for (const auto& n : used_names) {
      if (spec.Measure(n)->agg == MeasureAgg::kCountDistinct) distinct.push_back(n);
    }
  }
  auto cost = [&](const olap::Table& t) {
    uint64_t c = t.rows;
    for (size_t i = 0; i < t.schema.measures.size(); ++i) {
      if (std::find(distinct.begin(), distinct.end(), t.schema.measures[i].name) == distinct.end()) continue;
      for (const auto& chunk : t.chunks) c += chunk->measures[i].distinct.codes.size();
    }
    return c;
  };
  const olap::Table* table = base.get();
  std::string used;
  if (q.pre_aggregation != "none") {
    uint64_t best = 0;
    for (const auto& [n, t] : pres) {
      if (q.pre_aggregation != "auto" && n != q.pre_aggregation) continue;
      if (!CanAnswer(*t, needs)) continue;
      const uint64_t c = cost(*t);
      if (used.empty() || c < best) table = t.get(), used = n, best = c;
    }
    if (q.pre_aggregation != "auto" && used.empty()) {
      return Status::Conflict("pre-aggregation '" + q.pre_aggregation + "' is not built or cannot answer this query");
    }
  }
  ExecOptions o{options_.threads, options_.query_memory};
  QueryStats stats;
  AIMASS_ASSIGN_OR_RETURN(json answer, Execute(spec, *table, q, o, &stats));
  const double took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  answer["pre_aggregation"] = used.empty() ? json(nullptr) : json(used);
  answer["source_version"] = version;
  answer["stats"] = {{"rows_scanned", stats.rows_scanned}, {"chunks_skipped", stats.chunks_skipped},
                     {"group_memory_bytes", stats.memory_used}, {"took_ms", took}};
  // The query log: what a pre-aggregation answering this query would keep.
  std::optional<olap::TimeLevel> grain;
  if (GrainFor(needs, &grain)) {
    json sig = json::array();
    for (const auto& l : needs.code_levels) sig.push_back(l);
    if (grain) sig.push_back(spec.TimeDimension()->name + "." + std::string(olap::TimeLevelName(*grain)));
    std::lock_guard lock(mu_);
    ++c->query_log[sig.dump()];
  }
  return answer;
}

Result<json> CubeService::Drill(const std::string& name, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  CubeSpec spec;
  {
    std::lock_guard lock(mu_);
    spec = c->spec;
  }
  if (!body.is_object() || !body.contains("query") || !body.contains("level") || !body["level"].is_string()) {
    return Status::BadRequest("a drill is {query, level, value, direction: down | up}");
  }
  const json direction = body.contains("direction") ? body["direction"] : json("down");
  if (direction != "down" && direction != "up") return Status::BadRequest("direction is down or up");
  AIMASS_ASSIGN_OR_RETURN(QuerySpec q, ParseQuery(body["query"], spec));
  std::optional<json> value;
  if (body.contains("value")) value = body["value"];
  AIMASS_ASSIGN_OR_RETURN(QuerySpec next, cube::Drill(spec, q, body["level"].get<std::string>(), value, direction == "down"));
  const json nq = next.ToJson();
  AIMASS_ASSIGN_OR_RETURN(json result, Query(name, nq));
  return json{{"query", nq}, {"result", result}};
}

Result<CubeSpec> CubeService::SpecOf(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  std::lock_guard lock(mu_);
  return c->spec;
}

Result<json> CubeService::Sql(const json& body) {
  if (!body.is_object() || !body.contains("sql") || !body["sql"].is_string()) return Status::BadRequest("the body is {sql: \"SELECT … FROM cube …\"}");
  const std::string sql = body["sql"];
  AIMASS_ASSIGN_OR_RETURN(std::string name, SqlCube(sql));
  AIMASS_ASSIGN_OR_RETURN(CubeSpec spec, SpecOf(name));
  AIMASS_ASSIGN_OR_RETURN(json q, SqlToQuery(sql, spec));
  AIMASS_ASSIGN_OR_RETURN(json answer, Query(name, q));
  answer["cube"] = name;
  answer["query"] = q;
  return answer;
}

namespace {

// The measure and time level of an anomalies or explain request, checked.
Status MeasureAndLevel(const CubeSpec& spec, const json& body, std::string* measure, std::string* level, olap::TimeLevel* tl) {
  if (!body.is_object() || !body.contains("measure") || !body["measure"].is_string()) return Status::BadRequest("measure is required");
  *measure = body["measure"];
  if (!spec.Measure(*measure)) return Status::BadRequest("'" + measure->substr(0, 128) + "' is not a measure of the cube");
  const DimensionSpec* time = spec.TimeDimension();
  if (!time) return Status::BadRequest("the cube has no time dimension");
  *level = time->name + ".day";
  if (body.contains("level") && body["level"].is_string()) *level = body["level"];
  if (!body.contains("level") || body["level"].is_string()) {
    const DimensionSpec* d = spec.DimensionOf(*level);
    auto parsed = d == time && level->size() > time->name.size() ? olap::ParseTimeLevel(level->substr(time->name.size() + 1)) : std::nullopt;
    if (parsed && olap::IsHierarchical(*parsed)) {
      *tl = *parsed;
      return Status::Ok();
    }
  }
  return Status::BadRequest("level is a level of the time dimension: " + time->name + ".year, .quarter, .month, .week, .day or .hour");
}

bool Additive(const MeasureSpec& m) { return m.agg == MeasureAgg::kSum || m.agg == MeasureAgg::kCount; }

std::optional<double> Num(const json& v) {
  if (v.is_number()) return v.get<double>();
  return std::nullopt;
}

}  // namespace

Result<json> CubeService::Anomalies(const std::string& name, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(CubeSpec spec, SpecOf(name));
  std::string measure, level;
  olap::TimeLevel tl;
  AIMASS_RETURN_IF_ERROR(MeasureAndLevel(spec, body, &measure, &level, &tl));
  double threshold = 3.5;
  if (body.contains("threshold")) {
    if (!body["threshold"].is_number() || body["threshold"].get<double>() <= 0) return Status::BadRequest("threshold is a number above 0");
    threshold = body["threshold"];
  }
  // The season: a day's is the week, an hour's the day, a month's the year; or as asked.
  int season = tl == olap::TimeLevel::kDay ? 7 : tl == olap::TimeLevel::kHour ? 24 : tl == olap::TimeLevel::kMonth ? 12 : tl == olap::TimeLevel::kQuarter ? 4 : 0;
  if (body.contains("season")) {
    const json& sj = body["season"];
    if (sj == "none") season = 0;
    else if (sj.is_number_integer() && sj.get<int64_t>() >= 0 && sj.get<int64_t>() <= 10000) season = static_cast<int>(sj.get<int64_t>());
    else if (sj != "auto") return Status::BadRequest("season is auto, none, or a number of periods");
  }
  std::string by;
  if (body.contains("by") && !body["by"].is_null()) {
    if (!body["by"].is_string() || !spec.DimensionOf(body["by"].get<std::string>()) || spec.DimensionOf(body["by"].get<std::string>())->time) {
      return Status::BadRequest("by is a level of a dimension other than time");
    }
    by = body["by"];
  }
  json q = {{"measures", {measure}}, {"dimensions", by.empty() ? json{level} : json{by, level}}, {"limit", 100000}};
  if (body.contains("filters")) q["filters"] = body["filters"];
  AIMASS_ASSIGN_OR_RETURN(json answer, Query(name, q));
  const MeasureSpec& ms = *spec.Measure(measure);
  // Each series over every period from its first to its last: a period without rows is 0 for
  // a sum or a count, unknown otherwise.
  std::map<std::string, std::map<int64_t, std::optional<double>>> series;
  std::map<std::string, json> series_value;
  for (const auto& row : answer["rows"]) {
    const std::string key = by.empty() ? "" : row[by].dump();
    if (!by.empty()) series_value[key] = row[by];
    auto k = olap::ParseKey(tl, row[level].get<std::string>());
    if (k) series[key][*k] = Num(row[measure]);
  }
  if (series.size() > 100) return Status::TooLarge("by gives more than 100 series: filter it");
  json out_series = json::array(), found = json::array();
  for (const auto& [key, points] : series) {
    if (points.empty()) continue;
    const int64_t lo = points.begin()->first, hi = points.rbegin()->first;
    if (hi - lo > 100000) return Status::TooLarge("the series has more than 100,000 periods: use a coarser level or filter time");
    std::vector<std::optional<double>> values;
    std::vector<int64_t> keys;
    for (int64_t k = lo; k <= hi; ++k) {
      auto it = points.find(k);
      values.push_back(it != points.end() ? it->second : (Additive(ms) ? std::optional<double>(0.0) : std::nullopt));
      keys.push_back(k);
    }
    auto scored = DetectAnomalies(values, season, threshold);
    json pts = json::array();
    for (size_t i = 0; i < scored.size(); ++i) {
      const auto& p = scored[i];
      json o = {{"time", olap::RenderKey(tl, keys[i])}, {"value", p.value ? json(*p.value) : json(nullptr)},
                {"baseline", p.baseline ? json(*p.baseline) : json(nullptr)}, {"score", p.score ? json(*p.score) : json(nullptr)},
                {"anomaly", p.anomaly}};
      pts.push_back(o);
      if (p.anomaly) {
        json a = o;
        a.erase("anomaly");
        a["direction"] = *p.score > 0 ? "up" : "down";
        if (!by.empty()) a[by] = series_value[key];
        found.push_back(a);
      }
    }
    json s = {{"points", pts}};
    if (!by.empty()) s[by] = series_value[key];
    out_series.push_back(s);
  }
  std::sort(found.begin(), found.end(), [](const json& a, const json& b) { return std::fabs(a["score"].get<double>()) > std::fabs(b["score"].get<double>()); });
  json out = {{"measure", measure}, {"level", level}, {"season", season}, {"threshold", threshold}, {"anomalies", found},
              {"pre_aggregation", answer["pre_aggregation"]}};
  if (by.empty()) out["points"] = out_series.empty() ? json::array() : out_series[0]["points"];
  else out["series"] = out_series;
  return out;
}

Result<json> CubeService::Explain(const std::string& name, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(CubeSpec spec, SpecOf(name));
  std::string measure, level;
  olap::TimeLevel tl;
  AIMASS_RETURN_IF_ERROR(MeasureAndLevel(spec, body, &measure, &level, &tl));
  std::string period[2];
  const char* keys[2] = {"from", "to"};
  for (int i = 0; i < 2; ++i) {
    if (!body.contains(keys[i]) || !body[keys[i]].is_string() || !olap::ParseKey(tl, body[keys[i]].get<std::string>())) {
      return Status::BadRequest(std::string(keys[i]) + " is a " + std::string(olap::TimeLevelName(tl)) + " (the two periods compared)");
    }
    period[i] = olap::RenderKey(tl, *olap::ParseKey(tl, body[keys[i]].get<std::string>()));
  }
  std::vector<std::string> dims;
  if (body.contains("dimensions")) {
    if (!body["dimensions"].is_array() || body["dimensions"].size() > 16) return Status::BadRequest("dimensions is an array of at most 16 levels");
    for (const auto& d : body["dimensions"]) {
      if (!d.is_string() || !spec.DimensionOf(d.get<std::string>()) || spec.DimensionOf(d.get<std::string>())->time) {
        return Status::BadRequest("dimensions are levels of dimensions other than time");
      }
      dims.push_back(d);
    }
  } else {
    for (const auto& d : spec.dimensions) {
      if (!d.time) dims.push_back(d.levels.back().name);
    }
  }
  size_t limit = 10;
  if (body.contains("limit")) {
    if (!body["limit"].is_number_integer() || body["limit"].get<int64_t>() < 1 || body["limit"].get<int64_t>() > 1000) return Status::BadRequest("limit is 1 to 1,000");
    limit = static_cast<size_t>(body["limit"].get<int64_t>());
  }
  json base_filters = body.value("filters", json::array());
  if (!base_filters.is_array()) return Status::BadRequest("filters is an array");
  base_filters.push_back({{"dimension", level}, {"op", "in"}, {"values", {period[0], period[1]}}});
  // Both periods in one query per dimension: the level's values side by side.
  auto run = [&](const std::vector<std::string>& by) -> Result<json> {
    json d = by;
    d.push_back(level);
    return Query(name, json{{"measures", {measure}}, {"dimensions", d}, {"filters", base_filters}, {"limit", 100000}});
  };
  AIMASS_ASSIGN_OR_RETURN(json total, run({}));
  double t[2] = {0, 0};
  for (const auto& r : total["rows"]) t[r[level] == period[1]] = Num(r[measure]).value_or(0);
  const double change = t[1] - t[0];
  json contributors = json::array();
  for (const auto& d : dims) {
    AIMASS_ASSIGN_OR_RETURN(json a, run({d}));
    std::map<std::string, std::pair<json, std::array<double, 2>>> by_value;
    for (const auto& r : a["rows"]) {
      auto& e = by_value[r[d].dump()];
      e.first = r[d];
      e.second[r[level] == period[1]] = Num(r[measure]).value_or(0);
    }
    for (const auto& [k, e] : by_value) {
      const double c = e.second[1] - e.second[0];
      contributors.push_back({{"dimension", d}, {"value", e.first}, {"from", e.second[0]}, {"to", e.second[1]}, {"change", c},
                              {"share", change != 0 ? json(c / change) : json(nullptr)}});
    }
  }
  std::stable_sort(contributors.begin(), contributors.end(), [](const json& a, const json& b) {
    return std::fabs(a["change"].get<double>()) > std::fabs(b["change"].get<double>());
  });
  if (contributors.size() > limit) contributors.erase(contributors.begin() + static_cast<long>(limit), contributors.end());
  return json{{"measure", measure}, {"level", level}, {"from", period[0]}, {"to", period[1]},
              {"total", {{"from", t[0]}, {"to", t[1]}, {"change", change}}}, {"additive", Additive(*spec.Measure(measure))},
              {"contributors", contributors}};
}

Result<json> CubeService::Members(const std::string& name, const std::string& level, const std::string& q, size_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  CubeSpec spec;
  std::shared_ptr<const olap::Table> base;
  {
    std::lock_guard lock(mu_);
    spec = c->spec;
    base = c->base;
  }
  const DimensionSpec* d = spec.DimensionOf(level);
  if (!d) return Status::BadRequest("'" + level.substr(0, 128) + "' is not a level of the cube");
  if (!base) return Status::Conflict("cube '" + name + "' is still being built");
  limit = std::min(limit, kMaxMembers);
  const std::string lq = AsciiLower(q);  // matched case-insensitively
  json values = json::array();
  bool more = false;
  if (d->time) {
    const auto tl = level == d->name ? std::optional(olap::TimeLevel::kDay) : olap::ParseTimeLevel(level.substr(d->name.size() + 1));
    if (base->rows && tl) {
      int64_t lo, hi;
      if (*tl == olap::TimeLevel::kWeekday) lo = 1, hi = 7;
      else if (*tl == olap::TimeLevel::kHourOfDay) lo = 0, hi = 23;
      else lo = olap::LevelKey(*tl, base->time_min), hi = olap::LevelKey(*tl, base->time_max);
      for (int64_t k = lo; k <= hi; ++k) {
        const std::string v = olap::RenderKey(*tl, k);
        if (!lq.empty() && AsciiLower(v).find(lq) == std::string::npos) continue;
        if (values.size() == limit) {
          more = true;
          break;
        }
        values.push_back(v);
      }
    }
  } else {
    const auto& cc = base->schema.code_columns;
    const olap::Dictionary& dict = *base->code_dicts[static_cast<size_t>(std::find(cc.begin(), cc.end(), level) - cc.begin())];
    std::vector<std::string> all;
    for (uint32_t code = 1; code < dict.size(); ++code) {
      if (lq.empty() || AsciiLower(dict.value(code)).find(lq) != std::string::npos) all.push_back(dict.value(code));
    }
    std::sort(all.begin(), all.end());
    more = all.size() > limit;
    if (more) all.resize(limit);
    values = all;
  }
  return json{{"level", level}, {"values", values}, {"more", more}};
}

Result<json> CubeService::PutView(const std::string& name, const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  CubeSpec spec;
  {
    std::lock_guard lock(mu_);
    spec = c->spec;
  }
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string() || !body.contains("query")) {
    return Status::BadRequest("a view is {name, query, chart: table | bars | lines | heatmap}");
  }
  ViewRow v;
  v.cube = name;
  v.name = body["name"];
  AIMASS_RETURN_IF_ERROR(ValidateName("view name", v.name, 64));
  AIMASS_ASSIGN_OR_RETURN(QuerySpec q, ParseQuery(body["query"], spec));
  v.query = q.ToJson().dump();
  const json chart = body.contains("chart") ? body["chart"] : json("table");
  if (!chart.is_string() || !kCharts.count(chart.get<std::string>())) return Status::BadRequest("chart is table, bars, lines or heatmap");
  v.chart = chart;
  if (!kCharts.count(v.chart)) return Status::BadRequest("chart is table, bars, lines or heatmap");
  v.owner = who.username;
  v.created_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.PutView(v));
  return json{{"name", v.name}, {"query", q.ToJson()}, {"chart", v.chart}, {"owner", v.owner}, {"created_at", Rfc3339Ms(v.created_ms)}};
}

Result<json> CubeService::Views(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(Find(name).status());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Views(name));
  json out = json::array();
  for (const auto& v : rows) {
    out.push_back({{"name", v.name}, {"query", json::parse(v.query, nullptr, false)}, {"chart", v.chart}, {"owner", v.owner},
                   {"created_at", Rfc3339Ms(v.created_ms)}});
  }
  return json{{"views", out}};
}

Status CubeService::DeleteView(const std::string& name, const std::string& view) {
  AIMASS_RETURN_IF_ERROR(Find(name).status());
  return store_.DeleteView(name, view);
}

Result<json> CubeService::Proposals(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto c, Find(name));
  FlushQueryLog();
  AIMASS_ASSIGN_OR_RETURN(auto log, store_.QueryLog(name, 200));
  CubeSpec spec;
  {
    std::lock_guard lock(mu_);
    spec = c->spec;
  }
  json out = json::array();
  for (const auto& r : log) {
    json levels = json::parse(r.signature, nullptr, false);
    if (!levels.is_array()) continue;
    std::vector<std::string> dims = levels.get<std::vector<std::string>>();
    // Already answered by a declared pre-aggregation?
    QueryNeeds needs;
    for (const auto& l : dims) {
      const DimensionSpec* d = spec.DimensionOf(l);
      if (!d) continue;
      if (d->time) {
        if (auto tl = TimeOf(spec, {l})) needs.time_levels.insert(*tl);
      } else {
        needs.code_levels.insert(l);
      }
    }
    bool covered = false;
    for (const auto& p : spec.pre_aggregations) {
      olap::Table probe;
      probe.schema.code_columns = WithCoarser(spec, p.dimensions);
      probe.schema.time_level = TimeOf(spec, p.dimensions);
      probe.schema.has_time = probe.schema.time_level.has_value();
      covered |= CanAnswer(probe, needs);
    }
    if (covered) continue;
    std::string suggested = "auto";
    for (const auto& l : dims) suggested += "-" + l;
    for (auto& ch : suggested) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') ch = '_';
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    out.push_back({{"name", suggested.substr(0, 64)}, {"dimensions", dims}, {"queries", r.count}, {"last_used", Rfc3339Ms(r.last_ms)}});
    if (out.size() == 20) break;
  }
  return json{{"proposals", out}};
}

}  // namespace aimass::cube
