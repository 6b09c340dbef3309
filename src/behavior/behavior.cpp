#include "behavior/behavior.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "behavior/insights.hpp"
#include "common/cpus.hpp"
#include "common/text.hpp"
#include "common/name.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "datasets/datasets.hpp"
#include "events/bus.hpp"
#include "mq/broker.hpp"
#include "olap/expression.hpp"

namespace aimass::behavior {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxProjectName = 100;  // "churn-<project>" names a dataset, a pipeline and a model
constexpr uint64_t kImportPage = 10000;
constexpr size_t kFetch = 1000;

std::string SubscriptionOf(const std::string& project) { return "behavior-" + project; }

Status CheckKind(const std::string& kind) {
  if (kind != "cohort" && kind != "insight" && kind != "dashboard") return Status::NotFound("no such kind of item");
  return Status::Ok();
}

json ProjectJson(const ProjectRow& p) {
  return {{"name", p.name}, {"description", p.description}, {"owner", p.owner}, {"topic", p.topic.empty() ? json() : json(p.topic)},
          {"created", Rfc3339Ms(p.created_ms)}};
}

json ItemJson(const ItemRow& i) {
  json body = json::parse(i.body, nullptr, false);
  if (body.is_discarded()) body = json::object();
  body["name"] = i.name;
  body["owner"] = i.owner;
  body["created"] = Rfc3339Ms(i.created_ms);
  body["updated"] = Rfc3339Ms(i.updated_ms);
  return body;
}

// A dataset cell as an id (booleans and the like as their JSON text).
std::string IdCell(const json& v) { return datasets::Datasets::IdText(v).value_or(v.dump()); }

constexpr const char* kKinds[] = {"trends", "funnels", "retention", "lifecycle", "stickiness", "paths", "rfm", "lifetime"};

}  // namespace

BehaviorService::BehaviorService(storage::Db& db, BehaviorOptions options) : store_(db), options_(std::move(options)) {
  if (options_.threads <= 0) options_.threads = UsableCpus();
}

BehaviorService::~BehaviorService() { Stop(); }

Status BehaviorService::Open() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.ListProjects());
  for (const auto& r : rows) {
    ProjectOptions o;
    o.dir = options_.dir + "/" + r.name;
    o.fsync = options_.fsync;
    AIMASS_ASSIGN_OR_RETURN(auto p, Project::Open(r.name, o));
    projects_[r.name] = std::move(p);
  }
  background_ = std::thread([this] { Background(); });
  follower_ = std::thread([this] { FollowTopics(); });
  return Status::Ok();
}

void BehaviorService::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (background_.joinable()) background_.join();
  if (follower_.joinable()) follower_.join();
  // A last checkpoint, so that the next start replays little.
  std::lock_guard lock(mu_);
  for (auto& [name, p] : projects_) {
    auto r = p->Maintain(true);
    if (!r.ok()) spdlog::warn("behavior project {}: checkpoint at stop failed: {}", name, r.status().message());
  }
}

void BehaviorService::Background() {
  NameThisThread("behavior-bg");
  int64_t last_checkpoint = UnixNowMs(), last_churn = 0;
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; })) return;
    }
    const bool checkpoint = UnixNowMs() - last_checkpoint >= options_.checkpoint_ms;
    if (checkpoint) last_checkpoint = UnixNowMs();
    std::vector<std::shared_ptr<Project>> list;
    {
      std::lock_guard lock(mu_);
      for (auto& [n, p] : projects_) list.push_back(p);
    }
    for (auto& p : list) {
      auto r = p->Maintain(checkpoint);
      if (!r.ok()) spdlog::warn("behavior project {}: {}", p->name(), r.status().message());
    }
    if (UnixNowMs() - last_churn >= 2000) {
      last_churn = UnixNowMs();
      for (auto& p : list) {
        Status s = AdvanceChurn(p->name());
        if (!s.ok()) spdlog::warn("behavior project {}: churn model: {}", p->name(), s.message());
      }
    }
  }
}

Result<std::shared_ptr<Project>> BehaviorService::Find(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = projects_.find(name);
  if (it == projects_.end()) return Status::NotFound("no behaviour project '" + name.substr(0, 128) + "'");
  return it->second;
}

Result<json> BehaviorService::CreateProject(const json& body, const Principal& who) {
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) return Status::BadRequest("name is required: {name, description, topic}");
  ProjectRow r;
  r.name = body["name"];
  AIMASS_RETURN_IF_ERROR(ValidateName("project", r.name, kMaxProjectName));
  AIMASS_ASSIGN_OR_RETURN(r.description, TextOf(body, "description", ""));
  if (body.contains("topic") && !body["topic"].is_null()) {
    if (!body["topic"].is_string()) return Status::BadRequest("topic is a message-queue topic's name");
    r.topic = body["topic"];
    if (!options_.broker) return Status::BadRequest("this process has no message queue to follow topics on");
  }
  r.owner = who.username;
  r.created_ms = UnixNowMs();
  {
    std::lock_guard lock(mu_);
    if (projects_.count(r.name)) return Status::Conflict("project '" + r.name + "' exists");
  }
  ProjectOptions o;
  o.dir = options_.dir + "/" + r.name;
  o.fsync = options_.fsync;
  // Files a deleted project of the same name may have left.
  std::error_code ec;
  fs::remove_all(o.dir, ec);
  AIMASS_ASSIGN_OR_RETURN(auto p, Project::Open(r.name, o));
  AIMASS_RETURN_IF_ERROR(store_.CreateProject(r));
  {
    std::lock_guard lock(mu_);
    projects_[r.name] = std::move(p);
  }
  return ProjectJson(r);
}

Result<json> BehaviorService::ListProjects() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.ListProjects());
  json list = json::array();
  for (const auto& r : rows) {
    json j = ProjectJson(r);
    if (auto p = Find(r.name); p.ok()) j["stats"] = (*p)->Stats();
    list.push_back(std::move(j));
  }
  return json{{"projects", list}};
}

Result<json> BehaviorService::GetProject(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetProject(name));
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(name));
  json j = ProjectJson(row);
  j["stats"] = p->Stats();
  return j;
}

Result<json> BehaviorService::UpdateProject(const std::string& name, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetProject(name));
  if (!body.is_object()) return Status::BadRequest("the body is an object {description, topic}");
  if (body.contains("description")) {
    if (!body["description"].is_string()) return Status::BadRequest("description is text");
    row.description = body["description"];
  }
  if (body.contains("topic")) {
    if (body["topic"].is_null()) row.topic.clear();
    else if (!body["topic"].is_string()) return Status::BadRequest("topic is a message-queue topic's name or null");
    else {
      if (!options_.broker) return Status::BadRequest("this process has no message queue to follow topics on");
      if (row.topic != body["topic"].get<std::string>()) (void)options_.broker->DeleteSubscription(SubscriptionOf(name));
      row.topic = body["topic"];
    }
  }
  AIMASS_RETURN_IF_ERROR(store_.UpdateProject(row));
  return ProjectJson(row);
}

Status BehaviorService::DeleteProject(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetProject(name));
  AIMASS_RETURN_IF_ERROR(store_.DeleteProject(name));
  std::shared_ptr<Project> p;
  {
    std::lock_guard lock(mu_);
    auto it = projects_.find(name);
    if (it != projects_.end()) {
      p = it->second;
      projects_.erase(it);
    }
  }
  if (!row.topic.empty() && options_.broker) (void)options_.broker->DeleteSubscription(SubscriptionOf(name));
  if (p) return p->Destroy();
  return Status::Ok();
}

Result<json> BehaviorService::Capture(const std::string& project, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  AIMASS_ASSIGN_OR_RETURN(auto events, ParseCapture(body, UnixNowMs()));
  if (events.size() > options_.max_batch) return Status::TooLarge("a capture holds at most " + std::to_string(options_.max_batch) + " events");
  const size_t n = events.size();
  AIMASS_ASSIGN_OR_RETURN(size_t stored, p->Capture(std::move(events)));
  return json{{"status", 1}, {"received", n}, {"stored", stored}, {"duplicates", n - stored}};
}

Result<json> BehaviorService::Alias(const std::string& project, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  if (!body.is_object() || !body.contains("distinct_id") || !body["distinct_id"].is_string() || !body.contains("alias") || !body["alias"].is_string()) {
    return Status::BadRequest("distinct_id and alias are required: {distinct_id (the known id), alias (the id to merge into it)}");
  }
  const std::string id = body["distinct_id"], alias = body["alias"];
  if (id.empty() || alias.empty() || id.size() > kMaxName || alias.size() > kMaxName) return Status::BadRequest("ids are 1-200 characters");
  if (id == alias) return Status::BadRequest("alias and distinct_id are the same id");
  AIMASS_RETURN_IF_ERROR(p->Alias(id, alias));
  return Person(project, id);
}

Result<json> BehaviorService::Import(const std::string& project, const json& body) {
  if (!options_.datasets) return Status::Unavailable("this process has no datasets module to import from");
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  if (!body.is_object() || !body.contains("dataset") || !body["dataset"].is_string()) {
    return Status::BadRequest("dataset is required: {dataset, version, event | event_column, distinct_id, timestamp, properties: {name: column | expression}}");
  }
  std::string ref = "latest";
  if (body.contains("version")) {
    if (body["version"].is_number_integer()) ref = std::to_string(body["version"].get<int64_t>());
    else if (body["version"].is_string()) ref = body["version"];
    else return Status::BadRequest("version is a number, an alias or \"latest\"");
  }
  auto column = [&](const char* k) -> Result<std::string> {
    if (!body.contains(k) || !body[k].is_string() || body[k].get<std::string>().empty()) return Status::BadRequest(std::string(k) + " names a column");
    return body[k].get<std::string>();
  };
  AIMASS_ASSIGN_OR_RETURN(std::string id_col, column("distinct_id"));
  AIMASS_ASSIGN_OR_RETURN(std::string time_col, column("timestamp"));
  std::string event_name, event_col;
  if (body.contains("event_column")) {
    AIMASS_ASSIGN_OR_RETURN(event_col, column("event_column"));
  } else {
    if (!body.contains("event") || !body["event"].is_string() || body["event"].get<std::string>().empty()) {
      return Status::BadRequest("event (one name for every row) or event_column is required");
    }
    event_name = body["event"];
  }
  AIMASS_ASSIGN_OR_RETURN(auto v, options_.datasets->Resolve(body["dataset"], ref));
  if (v.status != "ready") return Status::Conflict("version " + std::to_string(v.version) + " of the dataset is " + v.status);
  // Properties: a column copied as it is, or an expression of columns (Quantity * UnitPrice).
  struct Prop {
    std::string name, column;
    std::optional<olap::Expression> expr;
  };
  std::vector<Prop> props;
  std::vector<std::string> wanted{id_col, time_col};
  if (!event_col.empty()) wanted.push_back(event_col);
  AIMASS_ASSIGN_OR_RETURN(auto table, options_.datasets->OpenTable(v));
  auto has_column = [&](const std::string& c) { return datasets::FindColumn(table.schema(), c) >= 0; };
  for (const auto& c : wanted) {
    if (!has_column(c)) return Status::BadRequest("the version has no column '" + c.substr(0, 128) + "'");
  }
  const json pj = body.value("properties", json::object());
  if (!pj.is_object()) return Status::BadRequest("properties maps property names to columns or expressions");
  for (const auto& [name, src] : pj.items()) {
    if (!src.is_string()) return Status::BadRequest("properties." + name + " is a column or an expression");
    Prop pr{name, src.get<std::string>(), std::nullopt};
    if (!has_column(pr.column)) {
      auto e = olap::Expression::Parse(pr.column);
      if (!e.ok()) return Status::BadRequest("properties." + name + ": '" + pr.column.substr(0, 64) + "' is neither a column nor an expression: " + e.status().message());
      for (const auto& c : e->Names()) {
        if (!has_column(c)) return Status::BadRequest("properties." + name + " names column '" + c.substr(0, 128) + "', which the version does not have");
        wanted.push_back(c);
      }
      pr.expr = std::move(*e);
    } else {
      wanted.push_back(pr.column);
    }
    props.push_back(std::move(pr));
  }
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  uint64_t stored = 0, skipped = 0;
  const std::string uuid_prefix = "dataset:" + v.dataset + ":" + std::to_string(v.version) + ":";
  for (uint64_t off = 0; off < v.row_count; off += kImportPage) {
    AIMASS_ASSIGN_OR_RETURN(json page, options_.datasets->Rows(v, off, kImportPage, wanted));
    std::vector<Event> events;
    uint64_t n = off;
    for (const auto& r : page["rows"]) {
      ++n;
      const json& id = r[id_col];
      const json& ts = r[time_col];
      if (id.is_null() || ts.is_null() || (id.is_string() && id.get<std::string>().empty())) {
        ++skipped;  // rows without a person or a time (as a user cleaning the data would drop them)
        continue;
      }
      Event e;
      // The row's place as its id: importing the same version again stores nothing twice.
      e.uuid = uuid_prefix + std::to_string(n - 1);
      e.distinct_id = IdCell(id);
      e.event = event_col.empty() ? event_name : IdCell(r[event_col]);
      if (ts.is_number()) {
        const double t = ts.get<double>();
        e.time_ms = static_cast<int64_t>(t < 1e11 ? t * 1000 : t);
      } else if (auto t = ParseRfc3339Ms(ts.is_string() ? ts.get<std::string>() : ts.dump())) {
        e.time_ms = *t;
      } else {
        return Status::BadRequest("row " + std::to_string(n) + ": " + time_col + " is not a time");
      }
      if (e.event.empty() || e.event.size() > kMaxName || e.distinct_id.size() > kMaxName) {
        return Status::BadRequest("row " + std::to_string(n) + ": the event name or the distinct id is empty or longer than 200 characters");
      }
      for (const auto& pr : props) {
        if (!pr.expr) {
          if (!r[pr.column].is_null()) e.properties[pr.name] = r[pr.column];
          continue;
        }
        std::vector<std::pair<std::string, std::optional<double>>> names;
        for (const auto& c : pr.expr->Names()) {
          const json& x = r[c];
          names.emplace_back(c, x.is_number() ? std::optional<double>(x.get<double>()) : std::nullopt);
        }
        if (auto value = pr.expr->EvaluateScalar(names)) e.properties[pr.name] = *value;
      }
      events.push_back(std::move(e));
    }
    if (events.empty()) continue;
    AIMASS_ASSIGN_OR_RETURN(size_t s, p->Capture(std::move(events)));
    stored += s;
  }
  if (options_.bus) {
    options_.bus->Publish("behavior.project.imported", json{{"project", project}, {"dataset", v.dataset}, {"version", v.version}, {"events", stored}}.dump());
  }
  return json{{"dataset", v.dataset}, {"version", v.version}, {"stored", stored}, {"skipped", skipped}};
}

std::unique_ptr<InsightContext> BehaviorService::Context(const std::shared_ptr<Project>& p) {
  auto ctx = std::make_unique<InsightContext>(InsightContext{*p, p->Take(), {}, options_.threads, UnixNowMs()});
  const std::string project = p->name();
  InsightContext* raw = ctx.get();
  ctx->cohorts = [this, project, raw](const std::string& cohort, const Snapshot&) { return CohortMask(project, cohort, *raw, 0); };
  return ctx;
}

Result<std::vector<uint8_t>> BehaviorService::CohortMask(const std::string& project, const std::string& cohort, InsightContext& ctx, int depth) {
  if (depth > 4) return Status::BadRequest("cohorts nest more than 4 deep (or in a cycle)");
  AIMASS_ASSIGN_OR_RETURN(auto item, store_.GetItem("cohort", project, cohort));
  json def = json::parse(item.body, nullptr, false);
  if (def.contains("distinct_ids")) {
    std::vector<uint8_t> mask(ctx.snap.roots.size(), 0);
    ctx.project.Read([&](const ProjectState& s) {
      for (const auto& id : def["distinct_ids"]) {
        if (!id.is_string()) continue;
        if (auto d = s.distinct.Find(id.get<std::string>()); d && *d < mask.size()) mask[ctx.snap.roots[*d]] = 1;
      }
    });
    return mask;
  }
  // Cohorts named inside a dynamic cohort resolve one level deeper.
  InsightContext inner{ctx.project, ctx.snap, {}, ctx.threads, ctx.now_ms};
  inner.cohorts = [this, project, &inner, depth](const std::string& c, const Snapshot&) { return CohortMask(project, c, inner, depth + 1); };
  return CohortMembers(inner, def.value("criteria", json::object()));
}

Result<json> BehaviorService::RunInsight(const std::shared_ptr<Project>& p, const std::string& kind, const json& body) {
  const int64_t start = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(json out, RunKind(p, kind, body));
  out["kind"] = kind;
  out["took_ms"] = UnixNowMs() - start;
  return out;
}

Result<json> BehaviorService::RunKind(const std::shared_ptr<Project>& p, const std::string& kind, const json& body) {
  if (!body.is_object()) return Status::BadRequest("an insight request is an object");
  auto ctx = Context(p);
  if (kind == "trends") return Trends(*ctx, body);
  if (kind == "funnels" || kind == "funnel") return Funnel(*ctx, body);
  if (kind == "retention") return Retention(*ctx, body);
  if (kind == "lifecycle") return Lifecycle(*ctx, body);
  if (kind == "stickiness") return Stickiness(*ctx, body);
  if (kind == "paths") return Paths(*ctx, body);
  if (kind == "rfm" || kind == "lifetime") {
    std::vector<std::pair<std::string, json>> written;
    auto r = kind == "rfm" ? Rfm(*ctx, body, &written) : Lifetime(*ctx, body, &written);
    if (!r.ok()) return r;
    ctx.reset();
    if (!written.empty()) AIMASS_RETURN_IF_ERROR(p->SetProperties(written));
    return r;
  }
  return Status::NotFound("no insight '" + kind.substr(0, 32) + "' (trends, funnels, retention, lifecycle, stickiness, paths, rfm, lifetime)");
}

Result<json> BehaviorService::Insight(const std::string& project, const std::string& kind, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  return RunInsight(p, kind, body);
}

Result<json> BehaviorService::Person(const std::string& project, const std::string& distinct_id) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  Snapshot snap = p->Take();
  json out;
  std::vector<uint32_t> ids;
  bool found = p->Read([&](const ProjectState& s) {
    auto d = s.distinct.Find(distinct_id);
    if (!d || *d >= snap.roots.size()) return false;
    const uint32_t root = snap.roots[*d];
    ids = s.persons.Ids(root);
    json names = json::array();
    for (uint32_t i : ids) names.push_back(s.distinct.value(i));
    const json* props = s.persons.Properties(root);
    out = {{"distinct_id", s.distinct.value(root)}, {"distinct_ids", names}, {"properties", props ? *props : json::object()}};
    return true;
  });
  if (!found) return Status::NotFound("no person with distinct id '" + distinct_id.substr(0, 128) + "'");
  int64_t first = 0, last = 0;
  uint64_t count = 0;
  for (const auto& part : snap.parts) {
    for (uint32_t id : ids) {
      const auto [lo, hi] = part->Range(id);
      for (uint32_t r = lo; r < hi; ++r) {
        const int64_t t = part->cols.time[r];
        if (count == 0 || t < first) first = t;
        if (count == 0 || t > last) last = t;
        ++count;
      }
    }
  }
  out["events"] = count;
  out["first_seen"] = count ? json(Rfc3339Ms(first)) : json();
  out["last_seen"] = count ? json(Rfc3339Ms(last)) : json();
  return out;
}

Result<json> BehaviorService::Persons(const std::string& project, const std::string& search, const std::string& cohort, size_t limit, size_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  auto ctx = Context(p);
  std::vector<uint8_t> mask;
  if (!cohort.empty()) {
    AIMASS_ASSIGN_OR_RETURN(mask, CohortMask(project, cohort, *ctx, 0));
  }
  const std::string needle = AsciiLower(search);
  json list = json::array();
  size_t total = 0;
  p->Read([&](const ProjectState& s) {
    const auto& roots = ctx->snap.roots;
    for (uint32_t d = 1; d < roots.size(); ++d) {
      if (roots[d] != d || !InMask(mask, d)) continue;
      const json* props = s.persons.Properties(d);
      if (!needle.empty()) {
        bool hit = false;
        auto ids = ctx->snap.IdsOf(d);
        if (ids.empty()) hit = AsciiLower(s.distinct.value(d)).find(needle) != std::string::npos;
        for (uint32_t id : ids) hit = hit || AsciiLower(s.distinct.value(id)).find(needle) != std::string::npos;
        if (!hit && props) hit = AsciiLower(props->dump()).find(needle) != std::string::npos;
        if (!hit) continue;
      }
      if (total++ < offset || list.size() >= limit) continue;
      list.push_back({{"distinct_id", s.distinct.value(d)}, {"properties", props ? *props : json::object()}});
    }
  });
  return json{{"persons", list}, {"total", total}, {"limit", limit}, {"offset", offset}};
}

Result<json> BehaviorService::SetPersonProperties(const std::string& project, const std::string& distinct_id, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  if (!body.is_object() || !body.contains("properties") || !body["properties"].is_object() || body["properties"].empty()) {
    return Status::BadRequest("properties is a non-empty object of person properties");
  }
  if (distinct_id.empty() || distinct_id.size() > kMaxName) return Status::BadRequest("a distinct id is 1-200 characters");
  AIMASS_RETURN_IF_ERROR(p->SetProperties({{distinct_id, body["properties"]}}));
  return Person(project, distinct_id);
}

Result<json> BehaviorService::Events(const std::string& project, const std::string& distinct_id, const std::string& event, size_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  Snapshot snap = p->Take();
  struct Ref {
    int64_t time;
    const EventColumns* cols;
    uint32_t row;
  };
  std::vector<Ref> found;
  std::optional<uint32_t> event_code;
  std::vector<uint32_t> ids;
  bool none = false;
  p->Read([&](const ProjectState& s) {
    if (!event.empty()) {
      event_code = s.events.Find(event);
      none |= !event_code;
    }
    if (!distinct_id.empty()) {
      auto d = s.distinct.Find(distinct_id);
      if (!d || *d >= snap.roots.size()) none = true;
      else ids = s.persons.Ids(snap.roots[*d]);
    }
  });
  if (!none) {
    auto consider = [&](const EventColumns& c, uint32_t r) {
      if (event_code && c.event[r] != *event_code) return;
      found.push_back({c.time[r], &c, r});
      // Keep the newest `limit` as the list grows.
      if (found.size() >= 4 * limit + 1024) {
        std::nth_element(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(limit), found.end(),
                         [](const Ref& a, const Ref& b) { return a.time > b.time; });
        found.resize(limit);
      }
    };
    for (const auto& part : snap.parts) {
      if (ids.empty()) {
        for (uint32_t r = 0; r < part->rows(); ++r) consider(part->cols, r);
      } else {
        for (uint32_t id : ids) {
          const auto [lo, hi] = part->Range(id);
          for (uint32_t r = lo; r < hi; ++r) consider(part->cols, r);
        }
      }
    }
  }
  std::stable_sort(found.begin(), found.end(), [](const Ref& a, const Ref& b) { return a.time > b.time; });
  if (found.size() > limit) found.resize(limit);
  json list = json::array();
  p->Read([&](const ProjectState& s) {
    for (const auto& f : found) {
      json props = json::object();
      for (size_t k = 0; k < s.keys.size(); ++k) {
        if (s.keys[k].numeric) {
          const double v = f.cols->Number(k, f.row);
          if (!std::isnan(v)) props[s.keys[k].name] = v;
        } else if (const uint32_t c = f.cols->Code(k, f.row)) {
          props[s.keys[k].name] = s.keys[k].dict.value(c);
        }
      }
      list.push_back({{"event", s.events.value(f.cols->event[f.row])},
                      {"distinct_id", s.distinct.value(f.cols->distinct[f.row])},
                      {"timestamp", Rfc3339Ms(f.time)},
                      {"properties", props}});
    }
  });
  return json{{"events", list}};
}

Result<json> BehaviorService::Schema(const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  return p->Read([&](const ProjectState& s) {
    json events = json::array(), props = json::array(), person = json::array();
    for (uint32_t c = 1; c < s.events.size(); ++c) events.push_back(s.events.value(c));
    for (const auto& k : s.keys) props.push_back({{"name", k.name}, {"type", k.numeric ? "number" : "text"}, {"values", k.numeric ? 0 : k.dict.size() - 1}});
    std::set<std::string> keys;
    for (const auto& [root, pp] : s.persons.all_properties()) {
      for (const auto& [k, v] : pp.items()) {
        if (keys.size() < 1000) keys.insert(k);
      }
    }
    for (const auto& k : keys) person.push_back(k);
    std::sort(events.begin(), events.end());
    return json{{"events", events}, {"properties", props}, {"person_properties", person}};
  });
}

Result<json> BehaviorService::PropertyValues(const std::string& project, const std::string& key, bool person, const std::string& q,
                                             size_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  const std::string needle = AsciiLower(q);
  std::set<std::string> values;
  bool more = false;
  auto add = [&](const std::string& v) {
    if (!needle.empty() && AsciiLower(v).find(needle) == std::string::npos) return;
    values.insert(v);
    if (values.size() > limit) {
      values.erase(std::prev(values.end()));
      more = true;
    }
  };
  Status st;
  p->Read([&](const ProjectState& s) {
    if (person) {
      for (const auto& [root, props] : s.persons.all_properties()) {
        auto it = props.find(key);
        if (it != props.end() && !it->is_null()) add(it->is_string() ? it->get<std::string>() : it->dump());
      }
      return;
    }
    const PropertyKey* k = s.Key(key);
    if (!k) {
      st = Status::NotFound("no event has the property '" + key.substr(0, 128) + "'");
      return;
    }
    if (k->numeric) {
      st = Status::BadRequest("'" + key.substr(0, 128) + "' is numeric: it has no list of values");
      return;
    }
    for (uint32_t c = 1; c < k->dict.size(); ++c) add(k->dict.value(c));
  });
  AIMASS_RETURN_IF_ERROR(st);
  return json{{"property", key}, {"type", person ? "person" : "event"}, {"values", values}, {"more", more}};
}

Result<json> BehaviorService::PutItem(const std::string& kind, const std::string& project, const json& body, const Principal& who) {
  AIMASS_RETURN_IF_ERROR(CheckKind(kind));
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) return Status::BadRequest("name is required");
  const std::string name = body["name"];
  AIMASS_RETURN_IF_ERROR(ValidateName(kind, name, kMaxNameLength));
  json stored = body;
  stored.erase("name");
  for (const char* k : {"owner", "created", "updated", "size", "result", "results"}) stored.erase(k);
  if (kind == "cohort") {
    const bool is_static = stored.contains("distinct_ids"), dynamic = stored.contains("criteria");
    if (is_static == dynamic) return Status::BadRequest("a cohort has distinct_ids (static) or criteria (dynamic)");
    if (is_static) {
      if (!stored["distinct_ids"].is_array() || stored["distinct_ids"].size() > 1'000'000) return Status::BadRequest("distinct_ids is a list of up to 1,000,000 ids");
      for (const auto& id : stored["distinct_ids"]) {
        if (!id.is_string() || id.get<std::string>().empty()) return Status::BadRequest("distinct_ids is a list of ids (strings)");
      }
    } else {
      AIMASS_RETURN_IF_ERROR(CheckCohortDefinition(stored["criteria"]));
    }
  } else if (kind == "insight") {
    if (!stored.contains("kind") || !stored["kind"].is_string() ||
        std::find(std::begin(kKinds), std::end(kKinds), stored["kind"].get<std::string>()) == std::end(kKinds)) {
      return Status::BadRequest("kind is one of trends, funnels, retention, lifecycle, stickiness, paths, rfm, lifetime");
    }
    if (!stored.contains("query") || !stored["query"].is_object()) return Status::BadRequest("query is the insight's request");
    // Check it by running it once (rfm and lifetime without writing).
    json q = stored["query"];
    q["write"] = false;
    AIMASS_RETURN_IF_ERROR(RunInsight(p, stored["kind"], q).status());
  } else {
    if (!stored.contains("insights") || !stored["insights"].is_array()) return Status::BadRequest("insights is a list of saved insights' names");
    for (const auto& i : stored["insights"]) {
      if (!i.is_string()) return Status::BadRequest("insights is a list of saved insights' names");
      AIMASS_RETURN_IF_ERROR(store_.GetItem("insight", project, i).status());
    }
  }
  const int64_t now = UnixNowMs();
  ItemRow row{project, name, who.username, stored.dump(), now, now};
  if (auto old = store_.GetItem(kind, project, name); old.ok()) row.created_ms = old->created_ms;
  AIMASS_RETURN_IF_ERROR(store_.PutItem(kind, row));
  return ItemJson(row);
}

Result<json> BehaviorService::ListItems(const std::string& kind, const std::string& project) {
  AIMASS_RETURN_IF_ERROR(CheckKind(kind));
  AIMASS_RETURN_IF_ERROR(Find(project).status());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.ListItems(kind, project));
  json list = json::array();
  for (const auto& r : rows) list.push_back(ItemJson(r));
  return json{{kind + "s", list}};
}

Result<json> BehaviorService::GetItem(const std::string& kind, const std::string& project, const std::string& name) {
  AIMASS_RETURN_IF_ERROR(CheckKind(kind));
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetItem(kind, project, name));
  json out = ItemJson(row);
  if (kind == "cohort") {
    auto ctx = Context(p);
    AIMASS_ASSIGN_OR_RETURN(auto mask, CohortMask(project, name, *ctx, 0));
    size_t n = 0;
    for (uint32_t d = 0; d < mask.size(); ++d) n += mask[d] && ctx->snap.roots[d] == d;
    out["size"] = n;
  } else if (kind == "insight") {
    json q = out["query"];
    q["write"] = false;
    auto r = RunInsight(p, out["kind"], q);
    if (r.ok()) out["result"] = std::move(*r);
    else out["error"] = r.status().message();
  } else {
    json results = json::array();
    for (const auto& i : out["insights"]) {
      auto item = store_.GetItem("insight", project, i);
      if (!item.ok()) {
        results.push_back({{"name", i}, {"error", item.status().message()}});
        continue;
      }
      json one = ItemJson(*item);
      json q = one["query"];
      q["write"] = false;
      auto r = RunInsight(p, one["kind"], q);
      if (r.ok()) one["result"] = std::move(*r);
      else one["error"] = r.status().message();
      results.push_back(std::move(one));
    }
    out["results"] = std::move(results);
  }
  return out;
}

Status BehaviorService::DeleteItem(const std::string& kind, const std::string& project, const std::string& name) {
  AIMASS_RETURN_IF_ERROR(CheckKind(kind));
  AIMASS_RETURN_IF_ERROR(Find(project).status());
  return store_.DeleteItem(kind, project, name);
}

Result<json> BehaviorService::CohortPersons(const std::string& project, const std::string& name, size_t limit, size_t offset) {
  AIMASS_RETURN_IF_ERROR(store_.GetItem("cohort", project, name).status());
  return Persons(project, "", name, limit, offset);
}

void BehaviorService::FollowTopics() {
  NameThisThread("behavior-mq");
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stopping_) return;
    }
    std::vector<std::pair<ProjectRow, std::shared_ptr<Project>>> following;
    if (options_.broker) {
      auto rows = store_.ListProjects();
      if (rows.ok()) {
        for (const auto& r : *rows) {
          if (r.topic.empty()) continue;
          if (auto p = Find(r.name); p.ok()) following.emplace_back(r, *p);
        }
      }
    }
    if (following.empty()) {
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
      continue;
    }
    bool any = false;
    for (auto& [row, p] : following) {
      const std::string sub = SubscriptionOf(row.name);
      mq::SubscriptionSpec spec;
      spec.name = sub;
      spec.topic = row.topic;
      spec.from_earliest = true;
      if (Status s = options_.broker->EnsureSubscription(spec); !s.ok()) {
        spdlog::warn("behavior: project {} cannot follow topic {}: {}", row.name, row.topic, s.message());
        continue;
      }
      auto deliveries = options_.broker->Fetch(sub, kFetch, std::chrono::milliseconds(following.size() == 1 ? 200 : 20));
      if (!deliveries.ok() || deliveries->empty()) continue;
      any = true;
      std::vector<Event> events;
      std::vector<std::string> ids;
      const int64_t now = UnixNowMs();
      for (const auto& d : *deliveries) {
        ids.push_back(d.id);
        json body = json::parse(d.message.body, nullptr, false);
        auto parsed = body.is_discarded() ? Result<std::vector<Event>>(Status::BadRequest("not JSON")) : ParseCapture(body, now);
        if (!parsed.ok()) {
          // A bad message is refused whole; the topic goes on.
          spdlog::warn("behavior: project {}: message {} of topic {} refused: {}", row.name, d.id, row.topic, parsed.status().message());
          continue;
        }
        // The message's place names events without an id, so a redelivery stores nothing twice.
        for (size_t i = 0; i < parsed->size(); ++i) {
          Event& e = (*parsed)[i];
          if (e.uuid.empty()) e.uuid = "mq:" + d.id + ":" + std::to_string(i);
          events.push_back(std::move(e));
        }
      }
      auto stored = events.empty() ? Result<size_t>(size_t{0}) : p->Capture(std::move(events));
      if (!stored.ok()) {
        (void)options_.broker->Nack(sub, ids, std::chrono::milliseconds(1000));
        spdlog::warn("behavior: project {}: events from topic {} not stored: {}", row.name, row.topic, stored.status().message());
        continue;
      }
      (void)options_.broker->Ack(sub, ids);
    }
    if (!any) {
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
    }
  }
}

}  // namespace aimass::behavior
