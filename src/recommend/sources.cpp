// Where feedback comes from besides the API: a dataset version imported once (its rows mapped
// to feedback by column), and a message-queue topic an app follows (each message one piece of
// feedback or a list; a message's id stored with its feedback, so a redelivery is never counted
// twice).
#include <spdlog/spdlog.h>

#include "common/time.hpp"
#include "datasets/datasets.hpp"
#include "mq/broker.hpp"
#include "recommend/recommend.hpp"

namespace aimass::recommend {

using nlohmann::json;

namespace {

constexpr uint64_t kImportPage = 10000;
constexpr uint64_t kMaxImportRows = 20'000'000;
constexpr size_t kFetch = 1000;
constexpr int64_t kRememberMessagesMs = 7LL * 86'400'000;

std::string SubscriptionOf(const std::string& app) { return "recommend-" + app; }

// A dataset cell as an id (anything but a string or number is left for the feedback's checks).
json IdCell(const json& v) {
  auto id = datasets::Datasets::IdText(v);
  return id ? json(*id) : v;
}

}  // namespace

Result<json> RecommendService::Import(const std::string& app, const json& body) {
  if (!options_.datasets) return Status::Unavailable("this process has no datasets module to import from");
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  if (!body.is_object() || !body.contains("dataset") || !body["dataset"].is_string()) {
    return Status::BadRequest("dataset is required: {dataset, version, columns: {user, item, timestamp, type, value, session}, type}");
  }
  const std::string dataset = body["dataset"];
  std::string ref = "latest";
  if (body.contains("version")) {
    if (body["version"].is_number_integer()) ref = std::to_string(body["version"].get<int64_t>());
    else if (body["version"].is_string()) ref = body["version"].get<std::string>();
    else return Status::BadRequest("version is a number, an alias or \"latest\"");
  }
  const json columns = body.value("columns", json::object());
  if (!columns.is_object()) return Status::BadRequest("columns maps user, item, timestamp, type, value and session to column names");
  std::map<std::string, std::string> col;
  for (const char* k : {"user", "item", "timestamp", "type", "value", "session"}) {
    if (!columns.contains(k) || columns[k].is_null()) continue;
    if (!columns[k].is_string()) return Status::BadRequest(std::string("columns.") + k + " is a column name");
    col[k] = columns[k].get<std::string>();
  }
  if (!col.count("user") || !col.count("item")) return Status::BadRequest("columns.user and columns.item are required");
  std::string constant_type;
  if (!col.count("type")) {
    if (!body.contains("type") || !body["type"].is_string()) return Status::BadRequest("type (one feedback type for every row) or columns.type is required");
    constant_type = body["type"];
  }
  AIMASS_ASSIGN_OR_RETURN(auto v, options_.datasets->Resolve(dataset, ref));
  if (v.status != "ready") return Status::Conflict("version " + std::to_string(v.version) + " of '" + dataset + "' is " + v.status);
  if (v.row_count > kMaxImportRows) return Status::TooLarge("the version has more than 20,000,000 rows");
  std::vector<std::string> wanted;
  for (const auto& [k, c] : col) wanted.push_back(c);
  AppConfig config;
  {
    std::shared_lock lock(a->live.mu);
    config = a->config;
  }
  std::vector<FeedbackRow> rows;
  uint64_t skipped = 0;
  const int64_t now = UnixNowMs();
  for (uint64_t off = 0; off < v.row_count; off += kImportPage) {
    AIMASS_ASSIGN_OR_RETURN(json page, options_.datasets->Rows(v, off, kImportPage, wanted));
    uint64_t n = off;
    for (const auto& r : page["rows"]) {
      ++n;
      // Rows without a user or an item are skipped (as a user cleaning the data would), any
      // other bad row refuses the whole import.
      const json& user = r[col["user"]];
      const json& item = r[col["item"]];
      if (user.is_null() || item.is_null() || (user.is_string() && user.get<std::string>().empty())) {
        ++skipped;
        continue;
      }
      json f = {{"user", IdCell(user)}, {"item", IdCell(item)}, {"type", constant_type.empty() ? r[col["type"]] : json(constant_type)}};
      if (col.count("timestamp")) f["timestamp"] = r[col["timestamp"]];
      if (col.count("value")) f["value"] = r[col["value"]];
      if (col.count("session") && !r[col["session"]].is_null()) f["session"] = IdCell(r[col["session"]]);
      auto parsed = ParseFeedback(config, f, now);
      if (!parsed.ok()) return Status(parsed.status().code(), "row " + std::to_string(n) + ": " + parsed.status().message());
      rows.push_back(std::move(*parsed));
    }
  }
  AIMASS_RETURN_IF_ERROR(store_.AddImport(app, dataset, v.version, rows, now));
  Apply(*a, rows);
  if (options_.bus) {
    options_.bus->Publish("recommend.app.imported", json{{"app", app}, {"dataset", dataset}, {"version", v.version}, {"rows", rows.size()}}.dump());
  }
  return json{{"dataset", dataset}, {"version", v.version}, {"accepted", rows.size()}, {"skipped", skipped}};
}

void RecommendService::FollowTopics() {
  int64_t last_forget = 0;
  for (;;) {
    {
      std::lock_guard lock(sweep_mu_);
      if (stopping_) return;
    }
    std::vector<std::pair<std::string, std::shared_ptr<App>>> following;
    {
      std::lock_guard lock(apps_mu_);
      for (const auto& [name, a] : apps_) {
        std::shared_lock live(a->live.mu);
        if (!a->config.feedback_topic.empty()) following.emplace_back(name, a);
      }
    }
    if (following.empty() || !options_.broker) {
      std::unique_lock lock(sweep_mu_);
      sweep_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; });
      continue;
    }
    for (auto& [name, a] : following) {
      AppConfig config;
      {
        std::shared_lock lock(a->live.mu);
        config = a->config;
      }
      const std::string sub = SubscriptionOf(name);
      mq::SubscriptionSpec spec;
      spec.name = sub;
      spec.topic = config.feedback_topic;
      spec.from_earliest = true;
      if (Status s = options_.broker->EnsureSubscription(spec); !s.ok()) {
        spdlog::warn("recommend: app {} cannot follow topic {}: {}", name, config.feedback_topic, s.message());
        continue;
      }
      auto deliveries = options_.broker->Fetch(sub, kFetch, std::chrono::milliseconds(following.size() == 1 ? 200 : 20));
      if (!deliveries.ok() || deliveries->empty()) continue;
      std::vector<std::pair<std::string, std::vector<FeedbackRow>>> messages;
      std::vector<std::string> ids;
      uint64_t rejected = 0;
      const int64_t now = UnixNowMs();
      for (const auto& d : *deliveries) {
        ids.push_back(d.id);
        json body = json::parse(d.message.body, nullptr, false);
        std::vector<FeedbackRow> rows;
        Status bad = Status::Ok();
        for (const auto& f : body.is_array() ? body : json::array({body})) {
          auto r = ParseFeedback(config, f, now);
          if (!r.ok()) {
            bad = r.status();
            break;
          }
          rows.push_back(std::move(*r));
        }
        if (body.is_discarded()) bad = Status::BadRequest("not JSON");
        if (!bad.ok()) {
          // A bad message is refused whole and counted; the topic goes on.
          ++rejected;
          std::lock_guard lock(a->source_mu);
          a->source_rejected++;
          a->source_error = d.id + ": " + bad.message();
          continue;
        }
        messages.emplace_back(d.id, std::move(rows));
      }
      auto stored = store_.AddFromMessages(name, messages, now);
      if (!stored.ok()) {
        // Nothing stored: the messages come back and are tried again.
        (void)options_.broker->Nack(sub, ids, std::chrono::milliseconds(1000));
        spdlog::warn("recommend: app {}: feedback from topic {} not stored: {}", name, config.feedback_topic, stored.status().message());
        continue;
      }
      std::vector<FeedbackRow> applied;
      for (size_t m : *stored) applied.insert(applied.end(), messages[m].second.begin(), messages[m].second.end());
      Apply(*a, applied);
      {
        std::lock_guard lock(a->source_mu);
        a->source_messages += stored->size();
      }
      (void)options_.broker->Ack(sub, ids);
      if (rejected) spdlog::warn("recommend: app {}: {} messages of topic {} refused", name, rejected, config.feedback_topic);
    }
    if (UnixNowMs() - last_forget > 3'600'000) {
      last_forget = UnixNowMs();
      (void)store_.ForgetConsumed(last_forget - kRememberMessagesMs);
    }
  }
}

}  // namespace aimass::recommend
