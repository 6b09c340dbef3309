#include "recommend/app_config.hpp"

#include <algorithm>
#include <cmath>

#include "common/name.hpp"
#include "recsys/recommender.hpp"

namespace aimass::recommend {

using nlohmann::json;

namespace {

// The training options a user may set, with their ranges.
struct Knob {
  const char* name;
  double min, max;
  bool integer;
};
constexpr Knob kKnobs[] = {{"factors", 2, 512, true},         {"iterations", 1, 100, true},      {"regularization", 0, 1000, false},
                           {"alpha", 0, 10000, false},        {"cg_steps", 1, 20, true},         {"bpr_epochs", 0, 500, true},
                           {"bpr_learning_rate", 1e-5, 1, false}, {"bpr_regularization", 0, 10, false}, {"neighbours", 1, 1000, true},
                           {"shrink", 0, 10000, false},       {"session_window", 1, 50, true},   {"session_gap_minutes", 1, 100000, true},
                           {"recent_days", 1, 3650, true},    {"ranker_days", 1, 3650, true},    {"ranker_rounds", 1, 2000, true},
                           {"candidates", 5, 1000, true}, {"ranker_depth", 2, 12, true}};

Result<std::vector<std::string>> Types(const json& body, const char* key, const AppConfig& c) {
  std::vector<std::string> out;
  if (!body.contains(key)) return out;
  if (!body[key].is_array()) return Status::BadRequest(std::string(key) + " is a list of feedback types");
  for (const auto& t : body[key]) {
    if (!t.is_string() || !c.feedback_types.count(t.get<std::string>())) {
      return Status::BadRequest(std::string(key) + ": each is one of the app's feedback_types");
    }
    out.push_back(t.get<std::string>());
  }
  return out;
}

}  // namespace

json AppConfig::Json() const {
  return {{"name", name},
          {"description", description},
          {"feedback_types", feedback_types},
          {"exclude_consumed", exclude_consumed},
          {"algorithm", algorithm},
          {"max_per_category", max_per_category},
          {"click_types", click_types},
          {"conversion_types", conversion_types},
          {"training", training},
          {"feedback_topic", feedback_topic.empty() ? nlohmann::json(nullptr) : nlohmann::json(feedback_topic)}};
}

Result<AppConfig> ParseAppConfig(const json& body) {
  if (!body.is_object()) return Status::InvalidJson("the body is a JSON object");
  AppConfig c;
  if (!body.contains("name") || !body["name"].is_string()) return Status::BadRequest("name is required");
  c.name = body["name"].get<std::string>();
  AIMASS_RETURN_IF_ERROR(ValidateName("app", c.name, 64));
  if (body.contains("description")) {
    if (!body["description"].is_string()) return Status::BadRequest("description is a string");
    c.description = body["description"].get<std::string>();
  }
  const json& types = body.contains("feedback_types") ? body["feedback_types"] : json();
  if (!types.is_object() || types.empty() || types.size() > 32) {
    return Status::BadRequest("feedback_types is an object of 1 to 32 types and their weights, e.g. {\"view\":1,\"purchase\":5}");
  }
  for (auto it = types.begin(); it != types.end(); ++it) {
    if (!it.value().is_number() || !(it.value().get<double>() > 0) || it.value().get<double>() > 1e6 || it.key().empty() ||
        it.key().size() > 64) {
      return Status::BadRequest("feedback_types." + it.key().substr(0, 64) + ": a weight is a number above 0 (at most 1e6)");
    }
    c.feedback_types[it.key()] = it.value().get<double>();
  }
  if (body.contains("exclude_consumed")) {
    if (!body["exclude_consumed"].is_boolean()) return Status::BadRequest("exclude_consumed is true or false");
    c.exclude_consumed = body["exclude_consumed"].get<bool>();
  }
  if (body.contains("algorithm")) {
    if (!body["algorithm"].is_string() || !recsys::SourceNamed(body["algorithm"].get<std::string>())) {
      return Status::BadRequest("algorithm is one of popular, recent, history, item_knn, als, bpr, session, ranker");
    }
    c.algorithm = body["algorithm"].get<std::string>();
  }
  if (body.contains("max_per_category")) {
    if (!body["max_per_category"].is_number_integer() || body["max_per_category"].get<int64_t>() < 0 ||
        body["max_per_category"].get<int64_t>() > 1000) {
      return Status::BadRequest("max_per_category is a whole number from 0 (no limit) to 1000");
    }
    c.max_per_category = body["max_per_category"].get<int>();
  }
  AIMASS_ASSIGN_OR_RETURN(c.click_types, Types(body, "click_types", c));
  AIMASS_ASSIGN_OR_RETURN(c.conversion_types, Types(body, "conversion_types", c));
  if (c.conversion_types.empty()) {
    auto heaviest = std::max_element(c.feedback_types.begin(), c.feedback_types.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
    c.conversion_types.push_back(heaviest->first);
  }
  if (c.click_types.empty()) {
    for (const auto& [t, w] : c.feedback_types) {
      if (std::find(c.conversion_types.begin(), c.conversion_types.end(), t) == c.conversion_types.end()) c.click_types.push_back(t);
    }
    if (c.click_types.empty()) c.click_types = c.conversion_types;
  }
  if (body.contains("feedback_topic") && !body["feedback_topic"].is_null()) {
    if (!body["feedback_topic"].is_string()) return Status::BadRequest("feedback_topic is a topic name");
    c.feedback_topic = body["feedback_topic"].get<std::string>();
    AIMASS_RETURN_IF_ERROR(ValidateName("feedback_topic", c.feedback_topic, 200));
  }
  if (body.contains("training")) {
    const json& t = body["training"];
    if (!t.is_object()) return Status::BadRequest("training is an object of options");
    for (auto it = t.begin(); it != t.end(); ++it) {
      if (it.key() == "ranker") {
        if (!it.value().is_boolean()) return Status::BadRequest("training.ranker is true or false");
        c.training["ranker"] = it.value();
        continue;
      }
      const Knob* knob = nullptr;
      for (const Knob& k : kKnobs) {
        if (it.key() == k.name) knob = &k;
      }
      if (!knob) return Status::BadRequest("training." + it.key().substr(0, 64) + " is not an option");
      const json& v = it.value();
      if (!v.is_number() || (knob->integer && !v.is_number_integer()) || v.get<double>() < knob->min || v.get<double>() > knob->max) {
        return Status::BadRequest("training." + it.key() + " is a " + (knob->integer ? "whole number" : "number") + " from " +
                                  json(knob->min).dump() + " to " + json(knob->max).dump());
      }
      c.training[it.key()] = v;
    }
  }
  return c;
}

}  // namespace aimass::recommend
