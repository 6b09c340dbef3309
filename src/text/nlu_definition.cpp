#include "text/nlu_definition.hpp"

#include <map>
#include <set>

#include "text/analyzer.hpp"
#include "text/entity_rules.hpp"
#include "text/nlu_model.hpp"

namespace aimass::text {

using nlohmann::json;

namespace {

constexpr size_t kMaxIntents = 5000;
constexpr size_t kMaxExampleBytes = 2000;

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 100) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::pair<NluTrainSpec, std::vector<NluExample>>> ReadNluDefinition(const json& d) {
  if (!d.is_object()) return Status::BadRequest("a bot definition is a JSON object");
  NluTrainSpec spec;
  std::vector<NluExample> examples;
  if (d.contains("language")) {
    if (!d["language"].is_string()) return Status::BadRequest("language is a string (en, zh, …)");
    spec.language = d["language"].get<std::string>();
  }
  if (!Analyzer::ValidLanguage(spec.language) || spec.language == "auto" || spec.language == "none") {
    return Status::BadRequest("language '" + spec.language.substr(0, 40) + "' is not one of en, zh or a Snowball language");
  }
  // Entities first: examples may only mark declared ones.
  std::set<std::string> entity_names;
  if (d.contains("entities")) {
    AIMASS_ASSIGN_OR_RETURN(auto rules, EntityRulesFromJson(d["entities"]));
    AIMASS_RETURN_IF_ERROR(EntityRules::Build(rules).status());
    for (const auto& r : rules) {
      if (!ValidName(r.name)) return Status::BadRequest("entity name '" + r.name.substr(0, 100) + "' is not [A-Za-z0-9_.-]{1,100}");
      if (!entity_names.insert(r.name).second) return Status::BadRequest("entity " + r.name + " is declared twice");
    }
    spec.entities = d["entities"];
  }
  if (!d.contains("intents") || !d["intents"].is_array() || d["intents"].empty()) {
    return Status::BadRequest("intents is a non-empty list of {name, examples}");
  }
  if (d["intents"].size() > kMaxIntents) return Status::BadRequest("at most 5000 intents");
  std::map<std::string, int> ids;
  for (const auto& intent : d["intents"]) {
    if (!intent.is_object() || !intent.contains("name") || !intent["name"].is_string()) {
      return Status::BadRequest("each intent is an object with a name");
    }
    const std::string name = intent["name"].get<std::string>();
    if (!ValidName(name)) return Status::BadRequest("intent name '" + name.substr(0, 100) + "' is not [A-Za-z0-9_.-]{1,100}");
    if (ids.count(name)) return Status::BadRequest("intent " + name + " is declared twice");
    const int id = static_cast<int>(spec.intents.size());
    ids[name] = id;
    spec.intents.push_back(name);
    if (!intent.contains("examples") || !intent["examples"].is_array() || intent["examples"].empty()) {
      return Status::BadRequest("intent " + name + " needs a list of examples");
    }
    for (const auto& e : intent["examples"]) {
      if (!e.is_string() || e.get_ref<const std::string&>().empty()) {
        return Status::BadRequest("intent " + name + ": each example is a non-empty string");
      }
      const auto& s = e.get_ref<const std::string&>();
      if (s.size() > kMaxExampleBytes) return Status::BadRequest("intent " + name + ": an example is longer than 2000 bytes");
      AIMASS_ASSIGN_OR_RETURN(AnnotatedText a, ParseAnnotated(s));
      for (const auto& span : a.spans) {
        if (!entity_names.count(span.entity)) {
          return Status::BadRequest("intent " + name + ": example marks entity '" + span.entity.substr(0, 100) +
                                    "', which entities does not declare");
        }
      }
      examples.push_back({std::move(a.text), id, std::move(a.spans)});
    }
  }
  if (d.contains("fallback")) {
    const json& f = d["fallback"];
    if (!f.is_object()) return Status::BadRequest("fallback is an object");
    if (f.contains("threshold")) {
      if (f["threshold"].is_number()) {
        const double t = f["threshold"].get<double>();
        if (!(t >= 0 && t <= 1)) return Status::BadRequest("fallback.threshold is between 0 and 1, or \"auto\"");
        spec.threshold = t;
      } else if (!(f["threshold"].is_string() && f["threshold"] == "auto")) {
        return Status::BadRequest("fallback.threshold is between 0 and 1, or \"auto\"");
      }
    }
    if (f.contains("max_false_fallbacks")) {
      if (!f["max_false_fallbacks"].is_number()) return Status::BadRequest("fallback.max_false_fallbacks is a number");
      spec.max_false_fallbacks = f["max_false_fallbacks"].get<double>();
      if (!(spec.max_false_fallbacks >= 0 && spec.max_false_fallbacks <= 0.5)) {
        return Status::BadRequest("fallback.max_false_fallbacks is between 0 and 0.5");
      }
    }
  }
  if (d.contains("training")) {
    const json& t = d["training"];
    if (!t.is_object()) return Status::BadRequest("training is an object");
    try {
      if (t.contains("kinds")) {
        spec.kinds = t["kinds"].get<std::vector<std::string>>();
        if (spec.kinds.empty()) return Status::BadRequest("training.kinds names at least one kind");
        for (const auto& k : spec.kinds) {
          if (k != "linear" && k != "fasttext") return Status::BadRequest("training.kinds are linear and fasttext");
        }
      }
      if (t.contains("holdout")) spec.holdout = t["holdout"].get<double>();
      if (t.contains("folds")) spec.folds = t["folds"].get<int>();
      if (t.contains("c")) spec.c = t["c"].get<double>();
      if (t.contains("fasttext_epochs")) spec.fasttext_epochs = t["fasttext_epochs"].get<int>();
      if (t.contains("seed")) spec.seed = t["seed"].get<uint32_t>();
    } catch (const json::exception&) {
      return Status::BadRequest("training: kinds is a list of names; folds, holdout, c, fasttext_epochs and seed are numbers");
    }
    if (!(spec.holdout >= 0 && spec.holdout <= 0.5)) return Status::BadRequest("training.holdout is between 0 and 0.5");
    if (spec.folds < 1 || spec.folds > 10) return Status::BadRequest("training.folds is 1-10 (1: one holdout split)");
    if (!(spec.c > 0 && spec.c <= 1000)) return Status::BadRequest("training.c is above 0, at most 1000");
    if (spec.fasttext_epochs < 1 || spec.fasttext_epochs > 1000) return Status::BadRequest("training.fasttext_epochs is 1-1000");
  }
  return std::make_pair(std::move(spec), std::move(examples));
}

}  // namespace aimass::text
