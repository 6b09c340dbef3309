#include "recommend/recommend.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/fnv1a.hpp"
#include "common/time.hpp"
#include "events/bus.hpp"
#include "mq/broker.hpp"
#include "pipeline/pipelines.hpp"
#include "recommend/experiment.hpp"
#include "recsys/model.hpp"
#include "registry/registry.hpp"

namespace aimass::recommend {

using nlohmann::json;
using recsys::Source;

namespace {

constexpr size_t kMaxBatch = 10000;   // items, users or feedback in one request
constexpr size_t kMaxIdBytes = 256;
constexpr size_t kMaxN = 500;
constexpr int64_t kMaxHistory = 1000;

Status ValidateId(const char* what, const std::string& id) {
  if (id.empty() || id.size() > kMaxIdBytes) return Status::BadRequest(std::string(what) + " ids are 1 to 256 bytes");
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) return Status::BadRequest(std::string(what) + " ids hold no control characters");
  }
  return Status::Ok();
}

Result<std::string> IdOf(const json& j, const char* key, const char* what) {
  const auto it = j.find(key);
  if (it == j.end() || !(it->is_string() || it->is_number_integer())) {
    return Status::BadRequest(std::string(key) + " is required (a string)");
  }
  std::string id = it->is_string() ? it->get<std::string>() : std::to_string(it->get<int64_t>());
  AIMASS_RETURN_IF_ERROR(ValidateId(what, id));
  return id;
}

// A time given as RFC 3339 text or Unix milliseconds; `fallback` when absent.
Result<int64_t> TimeOf(const json& j, const char* key, int64_t fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    if (auto ms = ParseRfc3339Ms(it->get<std::string>())) return *ms;
  }
  return Status::BadRequest(std::string(key) + " is an RFC 3339 time (2011-12-09T12:50:00Z) or Unix milliseconds");
}

Result<std::string> StringList(const json& j, const char* key, size_t max) {
  if (!j.contains(key)) return std::string("[]");
  const json& v = j[key];
  if (!v.is_array() || v.size() > max) return Status::BadRequest(std::string(key) + " is a list of at most " + std::to_string(max) + " strings");
  for (const auto& s : v) {
    if (!s.is_string() || s.get<std::string>().empty() || s.get<std::string>().size() > 256) {
      return Status::BadRequest(std::string(key) + " holds strings of 1 to 256 bytes");
    }
  }
  return v.dump();
}

// The title an item shows in answers and reasons: its title, name or description property, else `fallback`.
std::string TitleOf(const json& properties, const std::string& fallback) {
  for (const char* k : {"title", "name", "description"}) {
    if (properties.is_object() && properties.contains(k) && properties[k].is_string()) return properties[k].get<std::string>();
  }
  return fallback;
}

// How answers and reasons name an item: its title, else its id.
const std::string& NameOf(const LiveApp& live, uint32_t item) {
  return live.info[item].title.empty() ? live.items.Name(item) : live.info[item].title;
}

}  // namespace

std::string ModelOf(const std::string& app) { return "recommend-" + app; }
std::string PipelineOf(const std::string& app) { return "recommend-" + app; }
std::string EvaluationPipelineOf(const std::string& app) { return "recommend-" + app + "-evaluate"; }

RecommendService::RecommendService(storage::Db& db, RecommendOptions options) : store_(db), options_(std::move(options)) {}

RecommendService::~RecommendService() { Stop(); }

void RecommendService::Start() {
  follower_ = std::thread([this] { FollowTopics(); });
  sweeper_ = std::thread([this] {
    std::unique_lock lock(sweep_mu_);
    while (!stopping_) {
      sweep_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms), [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      Sweep();
      lock.lock();
    }
  });
}

void RecommendService::Stop() {
  {
    std::lock_guard lock(sweep_mu_);
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (follower_.joinable()) follower_.join();
  Sweep();  // the exposures still waiting
}

Status RecommendService::Load() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.ListApps());
  for (const auto& row : rows) AIMASS_RETURN_IF_ERROR(LoadApp(row));
  return Status::Ok();
}

Status RecommendService::LoadApp(const AppRow& row) {
  auto a = std::make_shared<App>();
  auto config = ParseAppConfig(json::parse(row.config, nullptr, false));
  if (!config.ok()) return Status::Internal("app " + row.name + ": its stored configuration: " + config.status().message());
  a->config = std::move(*config);
  {
    std::unique_lock lock(a->live.mu);
    std::string after;
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(auto items, store_.Items(row.name, after, 10000));
      for (const auto& it : items) {
        const uint32_t i = a->live.Item(it.id);
        ItemInfo& info = a->live.info[i];
        info.listed = true;
        info.hidden = it.hidden;
        info.title = TitleOf(json::parse(it.properties, nullptr, false), "");
        for (const auto& c : json::parse(it.categories, nullptr, false)) {
          if (c.is_string()) info.categories.push_back(a->live.categories.Add(c.get<std::string>()));
        }
        after = it.id;
      }
      if (items.size() < 10000) break;
    }
    AIMASS_RETURN_IF_ERROR(store_.ScanFeedback(row.name, 0, [&](const FeedbackRow& f) {
      auto w = a->config.feedback_types.find(f.type);
      const double tw = w == a->config.feedback_types.end() ? 0 : w->second;
      a->live.Apply(a->live.User(f.user), a->live.Item(f.item), static_cast<float>(tw * f.value), f.type, static_cast<float>(tw), f.ts_ms,
                    f.session);
      return Status::Ok();
    }));
  }
  AIMASS_ASSIGN_OR_RETURN(auto experiments, store_.Experiments(row.name));
  for (const auto& e : experiments) {
    if (e.state == "running") a->experiments.push_back(json::parse(e.definition, nullptr, false));
  }
  if (row.model_version > 0) {
    Status s = LoadModel(row.name, *a, row.model_version);
    if (!s.ok()) spdlog::warn("recommend: app {}: model version {} not loaded: {}", row.name, row.model_version, s.message());
  }
  std::lock_guard lock(apps_mu_);
  apps_[row.name] = std::move(a);
  return Status::Ok();
}

Status RecommendService::LoadModel(const std::string& app, App& a, int64_t version) {
  if (!options_.registry) return Status::Unavailable("this process has no registry to load models from");
  AIMASS_ASSIGN_OR_RETURN(auto v, options_.registry->GetVersion(ModelOf(app), version));
  AIMASS_ASSIGN_OR_RETURN(std::string path, options_.registry->ArtifactPath(v));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Internal("the model's artifact cannot be read");
  std::stringstream bytes;
  bytes << in.rdbuf();
  AIMASS_ASSIGN_OR_RETURN(recsys::Model model, recsys::ParseModel(bytes.str()));
  auto loaded = std::make_shared<LoadedModel>();
  loaded->version = version;
  AIMASS_ASSIGN_OR_RETURN(loaded->recommender, recsys::Recommender::Create(std::make_shared<const recsys::Model>(std::move(model))));
  std::unique_lock lock(a.live.mu);
  a.live.SetModel(std::move(loaded));
  spdlog::info("recommend: app {} serves model version {}", app, version);
  return Status::Ok();
}

Result<std::shared_ptr<RecommendService::App>> RecommendService::Find(const std::string& app) {
  std::lock_guard lock(apps_mu_);
  auto it = apps_.find(app);
  if (it == apps_.end()) return Status::NotFound("no recommender app '" + app.substr(0, 64) + "'");
  return it->second;
}

Result<json> RecommendService::AppJson(const AppRow& row, App& a) {
  AIMASS_ASSIGN_OR_RETURN(auto imports, store_.Imports(row.name));
  json out = a.config.Json();
  out["imports"] = imports;
  for (auto& i : out["imports"]) i["at"] = Rfc3339Ms(i["at_ms"].get<int64_t>()), i.erase("at_ms");
  out["owner"] = row.owner;
  out["state"] = row.state;
  out["created_at"] = Rfc3339Ms(row.created_ms);
  out["updated_at"] = Rfc3339Ms(row.updated_ms);
  out["model"] = ModelOf(row.name);
  out["pipeline"] = PipelineOf(row.name);
  if (row.pipeline_run) out["pipeline_run"] = row.pipeline_run;
  if (!row.error.empty()) out["error"] = row.error;
  std::shared_lock lock(a.live.mu);
  size_t listed = 0;
  for (const auto& i : a.live.info) listed += i.listed;
  out["counts"] = {{"items", listed}, {"items_seen", a.live.items.size()}, {"users", a.live.users.size()},
                   {"feedback", a.live.feedback_count}};
  if (!a.config.feedback_topic.empty()) {
    std::lock_guard source(a.source_mu);
    out["topic"] = {{"topic", a.config.feedback_topic}, {"subscription", "recommend-" + row.name}, {"messages", a.source_messages},
                    {"rejected", a.source_rejected}};
    if (!a.source_error.empty()) out["topic"]["last_error"] = a.source_error;
  }
  if (a.live.model) {
    const auto& m = a.live.model->recommender->model();
    out["model_version"] = a.live.model->version;
    out["trained"] = {{"items", m.size()}, {"until", Rfc3339Ms(m.trained_until_ms)}, {"ranker", !m.ranker.empty()}, {"info", m.info}};
  } else {
    out["model_version"] = nullptr;
  }
  return out;
}

Result<json> RecommendService::CreateApp(const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(AppConfig config, ParseAppConfig(body));
  AppRow row;
  row.name = config.name;
  row.owner = who.username;
  row.config = config.Json().dump();
  row.created_ms = row.updated_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.CreateApp(row));
  AIMASS_RETURN_IF_ERROR(LoadApp(row));
  if (options_.bus) options_.bus->Publish("recommend.app.created", json{{"app", row.name}}.dump());
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(row.name));
  return AppJson(row, *a);
}

Result<json> RecommendService::ListApps() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.ListApps());
  json out = json::array();
  for (const auto& row : rows) {
    auto a = Find(row.name);
    if (!a.ok()) continue;
    AIMASS_ASSIGN_OR_RETURN(json j, AppJson(row, **a));
    j.erase("trained");
    out.push_back(std::move(j));
  }
  return json{{"apps", out}};
}

Result<json> RecommendService::GetApp(const std::string& app) {
  AIMASS_RETURN_IF_ERROR(RefreshTraining(app));
  AIMASS_ASSIGN_OR_RETURN(AppRow row, store_.GetApp(app));
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  return AppJson(row, *a);
}

Result<json> RecommendService::UpdateApp(const std::string& app, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  if (!body.is_object()) return Status::InvalidJson("the body is a JSON object");
  // A PATCH: the members given over the configuration as it is.
  json merged;
  {
    std::shared_lock lock(a->live.mu);
    merged = a->config.Json();
  }
  if (body.contains("feedback_types") && body["feedback_types"] != merged["feedback_types"]) {
    return Status::Conflict("feedback_types cannot change: the weights of stored feedback would change under the live state");
  }
  for (auto it = body.begin(); it != body.end(); ++it) merged[it.key()] = it.value();
  merged["name"] = app;
  AIMASS_ASSIGN_OR_RETURN(AppConfig config, ParseAppConfig(merged));
  if (config.feedback_types != a->config.feedback_types) {
    return Status::Conflict("feedback_types cannot change: the weights of stored feedback would change under the live state");
  }
  AIMASS_RETURN_IF_ERROR(store_.UpdateConfig(app, config.Json().dump(), UnixNowMs()));
  std::string old_topic;
  {
    std::unique_lock lock(a->live.mu);
    old_topic = a->config.feedback_topic;
    a->config = config;
    ++a->live.catalogue_version;
  }
  // Another topic: the old one's subscription goes, the new one's starts from its beginning.
  if (old_topic != config.feedback_topic && !old_topic.empty() && options_.broker) (void)options_.broker->DeleteSubscription("recommend-" + app);
  return GetApp(app);
}

Status RecommendService::DeleteApp(const std::string& app) {
  AIMASS_RETURN_IF_ERROR(Find(app).status());
  AIMASS_RETURN_IF_ERROR(store_.DeleteApp(app));
  if (options_.broker) (void)options_.broker->DeleteSubscription("recommend-" + app);
  if (options_.pipelines) {
    (void)options_.pipelines->Delete(PipelineOf(app));
    (void)options_.pipelines->Delete(EvaluationPipelineOf(app));
  }
  std::lock_guard lock(apps_mu_);
  apps_.erase(app);
  return Status::Ok();
}

Result<json> RecommendService::PutItems(const std::string& app, const json& items) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  if (!items.is_array() || items.empty() || items.size() > kMaxBatch) return Status::BadRequest("items is a list of 1 to 10,000 items");
  std::vector<ItemRow> rows;
  const int64_t now = UnixNowMs();
  for (const auto& it : items) {
    if (!it.is_object()) return Status::BadRequest("an item is an object {id, categories, labels, properties, hidden, timestamp}");
    ItemRow r;
    r.app = app;
    AIMASS_ASSIGN_OR_RETURN(r.id, IdOf(it, "id", "item"));
    AIMASS_ASSIGN_OR_RETURN(r.categories, StringList(it, "categories", 64));
    AIMASS_ASSIGN_OR_RETURN(r.labels, StringList(it, "labels", 256));
    if (it.contains("properties")) {
      if (!it["properties"].is_object() || it["properties"].dump().size() > 16384) {
        return Status::BadRequest("properties is an object of at most 16 KiB");
      }
      r.properties = it["properties"].dump();
    }
    if (it.contains("hidden")) {
      if (!it["hidden"].is_boolean()) return Status::BadRequest("hidden is true or false");
      r.hidden = it["hidden"].get<bool>();
    }
    AIMASS_ASSIGN_OR_RETURN(r.ts_ms, TimeOf(it, "timestamp", now));
    r.updated_ms = now;
    rows.push_back(std::move(r));
  }
  AIMASS_RETURN_IF_ERROR(store_.PutItems(rows));
  std::unique_lock lock(a->live.mu);
  ++a->live.catalogue_version;
  for (const auto& r : rows) {
    const uint32_t i = a->live.Item(r.id);
    ItemInfo& info = a->live.info[i];
    info.listed = true;
    info.hidden = r.hidden;
    info.title = TitleOf(json::parse(r.properties), "");
    info.categories.clear();
    for (const auto& c : json::parse(r.categories)) info.categories.push_back(a->live.categories.Add(c.get<std::string>()));
  }
  return json{{"items", rows.size()}};
}

Result<json> RecommendService::GetItem(const std::string& app, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetItem(app, id));
  if (!row) return Status::NotFound("app '" + app + "' has no item '" + id.substr(0, 256) + "'");
  json out = {{"id", row->id},
              {"categories", json::parse(row->categories)},
              {"labels", json::parse(row->labels)},
              {"properties", json::parse(row->properties)},
              {"hidden", row->hidden},
              {"timestamp", Rfc3339Ms(row->ts_ms)}};
  std::shared_lock lock(a->live.mu);
  const int64_t i = a->live.items.Find(id);
  out["popularity"] = i >= 0 ? a->live.info[i].popularity : 0.f;
  return out;
}

Result<json> RecommendService::ListItems(const std::string& app, const std::string& after, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Items(app, after, limit));
  json items = json::array();
  std::shared_lock lock(a->live.mu);
  for (const auto& r : rows) {
    const int64_t i = a->live.items.Find(r.id);
    items.push_back({{"id", r.id},
                     {"categories", json::parse(r.categories)},
                     {"labels", json::parse(r.labels)},
                     {"properties", json::parse(r.properties)},
                     {"hidden", r.hidden},
                     {"timestamp", Rfc3339Ms(r.ts_ms)},
                     {"popularity", i >= 0 ? a->live.info[i].popularity : 0.f}});
  }
  json out = {{"items", items}};
  if (static_cast<int64_t>(rows.size()) == limit) out["next_after"] = rows.back().id;
  return out;
}

Status RecommendService::DeleteItem(const std::string& app, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_RETURN_IF_ERROR(store_.DeleteItem(app, id));
  std::unique_lock lock(a->live.mu);
  const int64_t i = a->live.items.Find(id);
  ++a->live.catalogue_version;
  if (i >= 0) {
    a->live.info[i].listed = false;
    a->live.info[i].hidden = true;  // its feedback stays; it is never recommended again
  }
  return Status::Ok();
}

Result<json> RecommendService::PutUsers(const std::string& app, const json& users) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  if (!users.is_array() || users.empty() || users.size() > kMaxBatch) return Status::BadRequest("users is a list of 1 to 10,000 users");
  std::vector<UserRow> rows;
  for (const auto& u : users) {
    if (!u.is_object()) return Status::BadRequest("a user is an object {id, labels, properties}");
    UserRow r;
    r.app = app;
    AIMASS_ASSIGN_OR_RETURN(r.id, IdOf(u, "id", "user"));
    AIMASS_ASSIGN_OR_RETURN(r.labels, StringList(u, "labels", 256));
    if (u.contains("properties")) {
      if (!u["properties"].is_object() || u["properties"].dump().size() > 16384) return Status::BadRequest("properties is an object of at most 16 KiB");
      r.properties = u["properties"].dump();
    }
    r.created_ms = UnixNowMs();
    rows.push_back(std::move(r));
  }
  AIMASS_RETURN_IF_ERROR(store_.PutUsers(rows));
  std::unique_lock lock(a->live.mu);
  for (const auto& r : rows) a->live.User(r.id);
  return json{{"users", rows.size()}};
}

Result<json> RecommendService::GetUser(const std::string& app, const std::string& id, int64_t history) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetUser(app, id));
  {
    std::shared_lock lock(a->live.mu);
    if (!row && a->live.users.Find(id) < 0) return Status::NotFound("app '" + app + "' has no user '" + id.substr(0, 256) + "'");
  }
  json out = {{"id", id}, {"labels", row ? json::parse(row->labels) : json::array()},
              {"properties", row ? json::parse(row->properties) : json::object()}};
  AIMASS_ASSIGN_OR_RETURN(auto feedback, store_.UserFeedback(app, id, std::clamp<int64_t>(history, 0, kMaxHistory)));
  json h = json::array();
  for (const auto& f : feedback) {
    json e = {{"item", f.item}, {"type", f.type}, {"value", f.value}, {"timestamp", Rfc3339Ms(f.ts_ms)}};
    if (!f.session.empty()) e["session"] = f.session;
    h.push_back(std::move(e));
  }
  out["history"] = h;
  std::shared_lock lock(a->live.mu);
  const int64_t u = a->live.users.Find(id);
  out["items_consumed"] = u >= 0 ? a->live.user_state[u].items.size() : 0;
  return out;
}

Result<json> RecommendService::ListUsers(const std::string& app, const std::string& after, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  // Users come from feedback as well as from PUT: the live state knows them all.
  std::vector<std::pair<std::string, size_t>> users;
  {
    std::shared_lock lock(a->live.mu);
    for (uint32_t u = 0; u < a->live.users.size(); ++u) {
      if (a->live.users.Name(u) > after) users.emplace_back(a->live.users.Name(u), a->live.user_state[u].items.size());
    }
  }
  const size_t n = std::min<size_t>(users.size(), limit);
  std::partial_sort(users.begin(), users.begin() + n, users.end());
  json list = json::array();
  for (size_t k = 0; k < n; ++k) list.push_back({{"id", users[k].first}, {"items_consumed", users[k].second}});
  json out = {{"users", list}};
  if (n == static_cast<size_t>(limit) && n < users.size()) out["next_after"] = users[n - 1].first;
  return out;
}

Result<json> RecommendService::Categories(const std::string& app) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  std::shared_lock lock(a->live.mu);
  std::vector<size_t> counts(a->live.categories.size(), 0);
  for (const auto& info : a->live.info) {
    if (!info.listed) continue;
    for (uint32_t c : info.categories) ++counts[c];
  }
  json out = json::array();
  for (uint32_t c = 0; c < counts.size(); ++c) {
    if (counts[c]) out.push_back({{"name", a->live.categories.Name(c)}, {"items", counts[c]}});
  }
  std::sort(out.begin(), out.end(), [](const json& x, const json& y) { return x["name"] < y["name"]; });
  return json{{"categories", out}};
}

Result<FeedbackRow> RecommendService::ParseFeedback(const AppConfig& config, const json& f, int64_t now_ms) {
  if (!f.is_object()) return Status::BadRequest("a piece of feedback is an object {user, item, type, timestamp, value, session}");
  FeedbackRow r;
  AIMASS_ASSIGN_OR_RETURN(r.user, IdOf(f, "user", "user"));
  AIMASS_ASSIGN_OR_RETURN(r.item, IdOf(f, "item", "item"));
  if (!f.contains("type") || !f["type"].is_string() || !config.feedback_types.count(f["type"].get<std::string>())) {
    std::string types;
    for (const auto& [t, w] : config.feedback_types) types += (types.empty() ? "" : ", ") + t;
    return Status::BadRequest("type is one of the app's feedback types: " + types);
  }
  r.type = f["type"].get<std::string>();
  if (f.contains("value") && !f["value"].is_null()) {
    if (!f["value"].is_number() || !std::isfinite(f["value"].get<double>()) || f["value"].get<double>() < 0 ||
        f["value"].get<double>() > 1e6) {
      return Status::BadRequest("value is a number from 0 to 1e6 (it multiplies the type's weight)");
    }
    r.value = f["value"].get<double>();
  }
  AIMASS_ASSIGN_OR_RETURN(r.ts_ms, TimeOf(f, "timestamp", now_ms));
  if (f.contains("session") && !f["session"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(r.session, IdOf(f, "session", "session"));
  }
  return r;
}

void RecommendService::Apply(App& a, const std::vector<FeedbackRow>& rows) {
  std::unique_lock lock(a.live.mu);
  for (const auto& r : rows) {
    const double tw = a.config.feedback_types.at(r.type);
    a.live.Apply(a.live.User(r.user), a.live.Item(r.item), static_cast<float>(tw * r.value), r.type, static_cast<float>(tw), r.ts_ms,
                 r.session);
  }
}

Result<json> RecommendService::AddFeedback(const std::string& app, const json& list) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  if (!list.is_array() || list.empty() || list.size() > kMaxBatch) {
    return Status::BadRequest("feedback is a list of 1 to 10,000 {user, item, type, timestamp, value, session}");
  }
  std::vector<FeedbackRow> rows;
  rows.reserve(list.size());
  const int64_t now = UnixNowMs();
  AppConfig config;
  {
    std::shared_lock lock(a->live.mu);
    config = a->config;
  }
  for (size_t k = 0; k < list.size(); ++k) {
    auto r = ParseFeedback(config, list[k], now);
    if (!r.ok()) return Status(r.status().code(), "feedback " + std::to_string(k) + ": " + r.status().message());
    rows.push_back(std::move(*r));
  }
  AIMASS_RETURN_IF_ERROR(store_.AddFeedback(app, rows));
  Apply(*a, rows);
  return json{{"accepted", rows.size()}};
}

Result<std::string> RecommendService::ExportFeedback(const std::string& app) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  std::map<std::string, double> weights;
  {
    std::shared_lock lock(a->live.mu);
    weights = a->config.feedback_types;
  }
  std::string out;
  AIMASS_RETURN_IF_ERROR(store_.ScanFeedback(app, 0, [&](const FeedbackRow& f) {
    auto w = weights.find(f.type);
    if (w == weights.end()) return Status::Ok();
    char weight[32];
    std::snprintf(weight, sizeof weight, "%.6g", w->second * f.value);
    out += f.user + '\t' + f.item + '\t' + weight + '\t' + std::to_string(f.ts_ms) + '\t' + f.session + '\n';
    return Status::Ok();
  }));
  return out;
}

json RecommendService::ItemBrief(const App& a, uint32_t item) const {
  json out = {{"id", a.live.items.Name(item)}};
  if (!a.live.info[item].title.empty()) out["title"] = a.live.info[item].title;
  json cats = json::array();
  for (uint32_t c : a.live.info[item].categories) cats.push_back(a.live.categories.Name(c));
  out["categories"] = cats;
  return out;
}

json RecommendService::Reason(const App& a, const LoadedModel* m, const recsys::Candidate& c, const std::string& category) const {
  json r = {{"algorithm", recsys::SourceName(c.source)}};
  std::string because;
  if (c.because >= 0 && m) {
    const uint32_t b = m->to_app[c.because];
    r["item"] = a.live.items.Name(b);
    because = NameOf(a.live, b);
  }
  switch (c.source) {
    case Source::kPopular:
    case Source::kRecent: {
      std::string where = category;
      const uint32_t app_item = m ? m->to_app[c.item] : c.item;
      if (where.empty() && !a.live.info[app_item].categories.empty()) where = a.live.categories.Name(a.live.info[app_item].categories[0]);
      r["text"] = std::string(c.source == Source::kRecent ? "trending" : "popular") + (where.empty() ? "" : " in " + where);
      break;
    }
    case Source::kHistory:
      r["text"] = "you chose it before";
      break;
    case Source::kSession:
      r["text"] = because.empty() ? "often chosen together" : "often chosen together with " + because;
      break;
    case Source::kItemKnn:
      r["text"] = because.empty() ? "similar to what you chose" : "chosen by the people who chose " + because;
      break;
    case Source::kAls:
    case Source::kBpr:
      r["text"] = because.empty() ? "people like you chose it" : "people who chose " + because + " chose it";
      break;
    case Source::kRanker:
      r["text"] = "picked for you";
      break;
  }
  return r;
}

std::optional<json> RecommendService::VariantOf(App& a, const std::string& user) {
  std::lock_guard lock(a.experiments_mu);
  for (const auto& e : a.experiments) {
    if (auto v = AssignVariant(e, user)) return json{{"experiment", e["name"]}, {"variant", (*v)["name"]}, {"algorithm", (*v)["algorithm"]}};
  }
  return std::nullopt;
}

Result<json> RecommendService::Recommend(const std::string& app, const std::string& user, const Query& q) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_RETURN_IF_ERROR(ValidateId("user", user));
  if (q.n < 1 || q.n > kMaxN) return Status::BadRequest("n is from 1 to 500");
  std::optional<json> variant;
  std::string algorithm = q.algorithm;
  if (algorithm.empty() && !q.preview) {
    variant = VariantOf(*a, user);
  }
  if (algorithm.empty()) algorithm = variant ? (*variant)["algorithm"].get<std::string>() : a->config.algorithm;
  const auto source = recsys::SourceNamed(algorithm);
  if (!source) return Status::BadRequest("algorithm is one of popular, recent, history, item_knn, als, bpr, session, ranker");

  json items = json::array();
  std::string served_by;
  int64_t model_version = 0;
  {
    std::shared_lock lock(a->live.mu);
    const LiveApp& live = a->live;
    const int64_t u = live.users.Find(user);
    const LiveUser* state = u >= 0 ? &live.user_state[u] : nullptr;
    int64_t category = -1;
    if (!q.category.empty()) {
      category = live.categories.Find(q.category);
      if (category < 0) return json{{"user", user}, {"items", items}, {"algorithm", algorithm}};
    }
    const bool exclude = a->config.exclude_consumed;
    // Whether an app item may be answered: listed or seen, not hidden, in the category, not consumed.
    auto allowed = [&](uint32_t i) {
      const ItemInfo& info = live.info[i];
      if (info.hidden) return false;
      if (category >= 0 && std::find(info.categories.begin(), info.categories.end(), category) == info.categories.end()) return false;
      if (exclude && state && state->at.count(i)) return false;
      return true;
    };
    const int max_per = q.max_per_category.value_or(a->config.max_per_category);
    std::vector<recsys::Candidate> answer;
    const LoadedModel* m = live.model.get();
    // The same question since the user's last feedback: the same answer.
    const std::string key = user + '\x1f' + algorithm + '\x1f' + std::to_string(q.n) + '\x1f' + q.category + '\x1f' +
                            std::to_string(max_per) + (q.explain ? "\x1f1" : "\x1f0");
    LiveApp::Answer cached;
    const bool cacheable = m && u >= 0;
    if (cacheable && live.CachedAnswer(key, m->version, live.user_state[u].changes, cached)) {
      items = std::move(cached.items);
      served_by = std::move(cached.served_by);
      model_version = m->version;
    } else if (m) {
      const recsys::Recommender& rec = *m->recommender;
      recsys::Filter f;
      f.keep = [&](uint32_t mi) { return allowed(m->to_app[mi]); };
      if (max_per > 0) {
        f.max_per_group = max_per;
        f.group = [&](uint32_t mi) {
          const auto& c = live.info[m->to_app[mi]].categories;
          return c.empty() ? UINT32_MAX : c[0];
        };
      }
      const recsys::UserHistory h = u >= 0 ? live.HistoryFor(u, *m) : recsys::UserHistory{};
      Source s = *source;
      if (s == Source::kRanker && !rec.has(s)) s = Source::kAls;  // a model trained without its ranker
      if (!rec.has(s) || (h.items.empty() && s != Source::kPopular && s != Source::kRecent)) s = Source::kPopular;  // cold start
      recsys::UserVectors v;
      const recsys::UserVectors* known = nullptr;
      if (recsys::Recommender::NeedsVectors(s) && u >= 0) {
        if (!live.CachedVectors(u, *m, v)) {
          v = rec.Vectors(h);
          live.CacheVectors(u, m->version, live.user_state[u].changes, v);
        }
        known = &v;
      }
      answer = rec.Recommend(s, h, q.n, f, known);
      served_by = recsys::SourceName(s);
      model_version = m->version;
      // Too few (a narrow category, a small catalogue): the rest from popular ones.
      if (answer.size() < q.n && s != Source::kPopular) {
        std::vector<uint32_t> taken;
        for (const auto& c : answer) taken.push_back(c.item);
        recsys::Filter more = f;
        more.keep = [&](uint32_t mi) { return allowed(m->to_app[mi]) && std::find(taken.begin(), taken.end(), mi) == taken.end(); };
        for (auto& c : rec.Recommend(Source::kPopular, h, q.n - answer.size(), more)) answer.push_back(c);
      }
      for (const auto& c : answer) {
        json item = ItemBrief(*a, m->to_app[c.item]);
        item["score"] = c.score;
        if (q.explain) item["reason"] = Reason(*a, m, c, q.category);
        items.push_back(std::move(item));
      }
    }
    if (items.size() < q.n && !cached.model_version) {
      // No model yet, or items the model has not seen: live popularity.
      std::vector<float> pop(live.info.size(), recsys::Recommender::kNone);
      for (uint32_t i = 0; i < live.info.size(); ++i) {
        const bool answered = m && m->to_model.size() > i && m->to_model[i] >= 0 &&
                              std::any_of(answer.begin(), answer.end(), [&](const auto& c) { return c.item == static_cast<uint32_t>(m->to_model[i]); });
        if (!answered && live.info[i].popularity > 0 && allowed(i)) pop[i] = live.info[i].popularity;
      }
      recsys::Filter f;
      for (uint32_t i : recsys::TopN(pop, q.n - items.size(), f)) {
        json item = ItemBrief(*a, i);
        item["score"] = std::log1p(pop[i]);
        if (q.explain) item["reason"] = Reason(*a, nullptr, {i, pop[i], Source::kPopular, -1}, q.category);
        items.push_back(std::move(item));
      }
      if (served_by.empty()) served_by = "popular";
    }
    if (cacheable && !cached.model_version) {
      live.CacheAnswer(key, {m->version, live.user_state[u].changes, live.catalogue_version, items, served_by});
    }
  }
  json out = {{"user", user}, {"items", items}, {"algorithm", served_by}};
  out["model_version"] = model_version ? json(model_version) : json(nullptr);
  if (variant) {
    out["experiment"] = (*variant)["experiment"];
    out["variant"] = (*variant)["variant"];
    std::lock_guard lock(exposures_mu_);
    const int64_t now = UnixNowMs();
    for (const auto& it : items) {
      exposures_.push_back({app, (*variant)["experiment"], (*variant)["variant"], user, it["id"], now});
    }
  }
  return out;
}

Result<json> RecommendService::Similar(const std::string& app, const std::string& item, const Query& q) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  if (q.n < 1 || q.n > kMaxN) return Status::BadRequest("n is from 1 to 500");
  std::shared_lock lock(a->live.mu);
  const LiveApp& live = a->live;
  const int64_t i = live.items.Find(item);
  if (i < 0) return Status::NotFound("app '" + app + "' has no item '" + item.substr(0, 256) + "'");
  int64_t category = -1;
  if (!q.category.empty() && (category = live.categories.Find(q.category)) < 0) return json{{"item", item}, {"items", json::array()}};
  auto allowed = [&](uint32_t x) {
    const ItemInfo& info = live.info[x];
    return !info.hidden && x != i &&
           (category < 0 || std::find(info.categories.begin(), info.categories.end(), category) != info.categories.end());
  };
  // Trained neighbours, and pairs seen in sessions since the model was trained.
  std::map<uint32_t, std::pair<float, Source>> scored;
  const LoadedModel* m = live.model.get();
  if (m && static_cast<size_t>(i) < m->to_model.size() && m->to_model[i] >= 0) {
    recsys::Filter f;
    f.keep = [&](uint32_t mi) { return allowed(m->to_app[mi]); };
    for (const auto& c : m->recommender->Similar(m->to_model[i], q.n * 2, f)) scored[m->to_app[c.item]] = {c.score, c.source};
  }
  if (auto it = live.live_pairs.find(static_cast<uint32_t>(i)); it != live.live_pairs.end()) {
    float best = 0;
    for (const auto& [j, w] : it->second) best = std::max(best, w);
    for (const auto& [j, w] : it->second) {
      if (!allowed(j)) continue;
      auto& s = scored[j];
      const float add = 0.5f * w / best;
      if (add > s.first) s.second = Source::kSession;
      s.first += add;
    }
  }
  std::vector<std::pair<float, uint32_t>> order;
  for (const auto& [j, s] : scored) order.emplace_back(s.first, j);
  std::sort(order.begin(), order.end(), [](const auto& x, const auto& y) { return x.first != y.first ? x.first > y.first : x.second < y.second; });
  json items = json::array();
  for (size_t k = 0; k < order.size() && k < q.n; ++k) {
    const uint32_t j = order[k].second;
    json it = ItemBrief(*a, j);
    it["score"] = order[k].first;
    const Source s = scored[j].second;
    const std::string& named = NameOf(live, static_cast<uint32_t>(i));
    it["reason"] = {{"algorithm", recsys::SourceName(s)}, {"item", item},
                    {"text", s == Source::kSession ? "often chosen together with " + named : "chosen by the people who chose " + named}};
    items.push_back(std::move(it));
  }
  return json{{"item", item}, {"items", items}, {"model_version", m ? json(m->version) : json(nullptr)}};
}

Result<json> RecommendService::Next(const std::string& app, const std::string& session, const Query& q) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_RETURN_IF_ERROR(ValidateId("session", session));
  if (q.n < 1 || q.n > kMaxN) return Status::BadRequest("n is from 1 to 500");
  std::shared_lock lock(a->live.mu);
  const LiveApp& live = a->live;
  auto sit = live.sessions.find(session);
  if (sit == live.sessions.end()) return Status::NotFound("app '" + app + "' has no session '" + session.substr(0, 256) + "' (feedback names it)");
  const std::vector<uint32_t>& items_in = sit->second;
  auto allowed = [&](uint32_t x) {
    return !live.info[x].hidden && std::find(items_in.begin(), items_in.end(), x) == items_in.end();
  };
  std::map<uint32_t, std::pair<float, recsys::Candidate>> scored;
  const LoadedModel* m = live.model.get();
  if (m) {
    std::vector<uint32_t> known;
    for (uint32_t x : items_in) {
      if (x < m->to_model.size() && m->to_model[x] >= 0) known.push_back(m->to_model[x]);
    }
    recsys::Filter f;
    f.keep = [&](uint32_t mi) { return allowed(m->to_app[mi]); };
    for (auto c : m->recommender->Next(known, q.n * 2, f)) {
      const uint32_t j = m->to_app[c.item];
      if (c.because >= 0) c.because = m->to_app[c.because];
      c.item = j;
      scored[j] = {c.source == Source::kPopular ? 0.f : c.score, c};
    }
  }
  // Pairs seen since training, after the session's newest items.
  float decay = 1;
  for (size_t k = items_in.size(); k-- > 0 && decay > 0.2f; decay *= 0.7f) {
    auto it = live.live_pairs.find(items_in[k]);
    if (it == live.live_pairs.end()) continue;
    float best = 0;
    for (const auto& [j, w] : it->second) best = std::max(best, w);
    for (const auto& [j, w] : it->second) {
      if (!allowed(j)) continue;
      auto& s = scored[j];
      if (s.second.source == Source::kPopular || s.first == 0) s.second = {j, 0, Source::kSession, static_cast<int64_t>(items_in[k])};
      s.first += decay * w / best;
    }
  }
  std::vector<std::pair<float, uint32_t>> order;
  for (const auto& [j, s] : scored) order.emplace_back(s.first + 1e-6f * s.second.score, j);
  std::sort(order.begin(), order.end(), [](const auto& x, const auto& y) { return x.first != y.first ? x.first > y.first : x.second < y.second; });
  json items = json::array();
  for (size_t k = 0; k < order.size() && k < q.n; ++k) {
    const recsys::Candidate& c = scored[order[k].second].second;
    json it = ItemBrief(*a, order[k].second);
    it["score"] = order[k].first;
    json reason = {{"algorithm", recsys::SourceName(c.source)}};
    if (c.because >= 0) {
      const uint32_t b = static_cast<uint32_t>(c.because);
      reason["item"] = live.items.Name(b);
      reason["text"] = (c.source == Source::kSession ? "often chosen next after " : "similar to ") +
                       NameOf(live, b);
    } else {
      reason["text"] = "popular";
    }
    it["reason"] = reason;
    items.push_back(std::move(it));
  }
  json in = json::array();
  for (uint32_t x : items_in) in.push_back(live.items.Name(x));
  return json{{"session", session}, {"session_items", in}, {"items", items}, {"model_version", m ? json(m->version) : json(nullptr)}};
}

}  // namespace aimass::recommend
