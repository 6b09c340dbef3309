#include "pipeline/spec.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "common/name.hpp"
#include "config/yaml_json.hpp"
#include "pipeline/expression.hpp"
#include "pipeline/tuning.hpp"

namespace aimass::pipeline {

using nlohmann::json;

namespace {

constexpr size_t kMaxSteps = 200;

Status CheckKeys(const json& j, std::initializer_list<const char*> allowed, const std::string& what) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return it.key() == a; })) {
      return Status::BadRequest("unknown field '" + it.key().substr(0, 64) + "' in " + what);
    }
  }
  return Status::Ok();
}

template <class T>
Status Get(const json& j, const char* key, T& out, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::Ok();
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return Status::BadRequest(what + ": '" + key + "' has the wrong type");
  }
  return Status::Ok();
}

Result<StepSpec> ParseStep(const json& j, size_t index) {
  std::string what = "step " + std::to_string(index + 1);
  if (!j.is_object()) return Status::BadRequest(what + " is not an object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j,
                                   {"name", "uses", "with", "command", "env", "needs", "cache", "retries",
                                    "retry_backoff_s", "timeout_s", "resources", "sandbox", "network", "executor",
                                    "when", "foreach"},
                                   what));
  StepSpec s;
  AIMASS_RETURN_IF_ERROR(Get(j, "name", s.name, what));
  AIMASS_RETURN_IF_ERROR(ValidateName("step name", s.name, 64));
  what = "step '" + s.name + "'";
  AIMASS_RETURN_IF_ERROR(Get(j, "uses", s.uses, what));
  const auto& builtins = BuiltinSteps();
  if (std::find(builtins.begin(), builtins.end(), s.uses) == builtins.end()) {
    return Status::BadRequest(what + ": unknown step '" + s.uses.substr(0, 64) + "' in 'uses'");
  }
  if (j.contains("with")) {
    if (!j["with"].is_object()) return Status::BadRequest(what + ": 'with' is an object");
    s.with = j["with"];
  }
  if (j.contains("command")) {
    const json& c = j["command"];
    if (!c.is_array() || c.empty()) return Status::BadRequest(what + ": 'command' is a non-empty array of strings (argv)");
    for (const auto& a : c) {
      if (!a.is_string()) return Status::BadRequest(what + ": 'command' is a non-empty array of strings (argv)");
      s.command.push_back(a.get<std::string>());
    }
  }
  if (s.uses == "command" && s.command.empty()) return Status::BadRequest(what + ": a command step needs 'command'");
  if (s.uses != "command" && !s.command.empty()) {
    return Status::BadRequest(what + ": 'command' is for command steps; '" + s.uses + "' takes 'with'");
  }
  AIMASS_RETURN_IF_ERROR(Get(j, "env", s.env, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "needs", s.needs, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "cache", s.cache, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "retries", s.retries, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "retry_backoff_s", s.retry_backoff_s, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "timeout_s", s.timeout_s, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "sandbox", s.sandbox, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "network", s.network, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "executor", s.executor, what));
  AIMASS_RETURN_IF_ERROR(Get(j, "when", s.when, what));
  if (s.retries < 0 || s.retries > 20) return Status::BadRequest(what + ": 'retries' is 0 to 20");
  if (!(s.retry_backoff_s >= 0 && s.retry_backoff_s <= 3600)) {
    return Status::BadRequest(what + ": 'retry_backoff_s' is 0 to 3600");
  }
  if (s.timeout_s < 1 || s.timeout_s > 7 * 86400) return Status::BadRequest(what + ": 'timeout_s' is 1 to 604800");
  if (s.executor != "local" && s.executor != "slurm") return Status::BadRequest(what + ": 'executor' is local or slurm");
  if (j.contains("resources") && !j["resources"].is_null()) {
    if (!j["resources"].is_object()) return Status::BadRequest(what + ": 'resources' is an object");
    s.resources = j["resources"];
  }
  if (j.contains("foreach") && !j["foreach"].is_null()) {
    s.foreach = j["foreach"];
    if (!s.foreach.is_array() && !s.foreach.is_string()) {
      return Status::BadRequest(what + ": 'foreach' is an array, or an expression giving one");
    }
    if (s.foreach.is_array() && (s.foreach.empty() || s.foreach.size() > 1000)) {
      return Status::BadRequest(what + ": 'foreach' holds 1 to 1000 items");
    }
  }
  if (s.uses == "tune") {
    if (!s.foreach.is_null()) return Status::BadRequest(what + ": a tune step fans out by itself; no 'foreach'");
    auto tune = ParseTuneSpec(s.with);
    if (!tune.ok()) return Status::BadRequest(what + ": " + tune.status().message());
  }
  return s;
}

}  // namespace

const std::vector<std::string>& BuiltinSteps() {
  static const std::vector<std::string> kSteps = {"command",  "dataset.split", "train.torch", "train.xgboost",
                                                  "train.fasttext", "train.assist", "train.recommend", "evaluate.recommend", "evaluate", "compare", "register",
                                                  "deploy",   "convert",       "tune"};
  return kSteps;
}

Result<PipelineSpec> PipelineSpecFromJson(const json& j) {
  if (!j.is_object()) return Status::BadRequest("a pipeline is an object {name, params, steps}");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"name", "description", "params", "schedule", "time_zone", "steps"}, "the pipeline"));
  PipelineSpec p;
  AIMASS_RETURN_IF_ERROR(Get(j, "name", p.name, "the pipeline"));
  AIMASS_RETURN_IF_ERROR(ValidateName("pipeline name", p.name, 128));
  AIMASS_RETURN_IF_ERROR(Get(j, "description", p.description, "the pipeline"));
  AIMASS_RETURN_IF_ERROR(Get(j, "schedule", p.schedule, "the pipeline"));
  AIMASS_RETURN_IF_ERROR(Get(j, "time_zone", p.time_zone, "the pipeline"));
  if (j.contains("params") && !j["params"].is_null()) {
    if (!j["params"].is_object()) return Status::BadRequest("'params' is an object of defaults");
    p.params = j["params"];
  }
  if (!j.contains("steps") || !j["steps"].is_array() || j["steps"].empty()) {
    return Status::BadRequest("'steps' is a non-empty array");
  }
  if (j["steps"].size() > kMaxSteps) return Status::BadRequest("a pipeline has at most 200 steps");
  std::vector<StepSpec> steps;
  std::set<std::string> names;
  for (size_t i = 0; i < j["steps"].size(); ++i) {
    AIMASS_ASSIGN_OR_RETURN(StepSpec s, ParseStep(j["steps"][i], i));
    if (!names.insert(s.name).second) return Status::BadRequest("two steps are named '" + s.name + "'");
    steps.push_back(std::move(s));
  }
  for (const auto& s : steps) {
    for (const auto& n : s.needs) {
      if (!names.count(n)) return Status::BadRequest("step '" + s.name + "' needs '" + n.substr(0, 64) + "', which is not a step");
      if (n == s.name) return Status::BadRequest("step '" + s.name + "' needs itself");
    }
  }
  // Each time, the first written step whose needs are placed: the written order, as far as
  // the needs allow.
  std::vector<bool> placed(steps.size(), false);
  std::set<std::string> done;
  while (p.steps.size() < steps.size()) {
    size_t next = steps.size();
    for (size_t i = 0; i < steps.size() && next == steps.size(); ++i) {
      if (!placed[i] && std::all_of(steps[i].needs.begin(), steps[i].needs.end(),
                                    [&](const std::string& n) { return done.count(n) > 0; })) {
        next = i;
      }
    }
    if (next == steps.size()) {
      for (size_t i = 0; i < steps.size(); ++i) {
        if (!placed[i]) return Status::BadRequest("the steps' needs form a cycle through '" + steps[i].name + "'");
      }
    }
    placed[next] = true;
    done.insert(steps[next].name);
    p.steps.push_back(steps[next]);
  }
  // A step may read the outputs of the steps it needs, directly or through others, only: any
  // other step may not have run yet, or at all.
  std::map<std::string, std::set<std::string>> upstream;
  for (const auto& s : p.steps) {
    auto& up = upstream[s.name];
    for (const auto& n : s.needs) {
      up.insert(n);
      up.insert(upstream[n].begin(), upstream[n].end());
    }
    std::set<std::string> refs = StepReferences(s.with);
    for (const auto& r : StepReferences(json(s.command))) refs.insert(r);
    for (const auto& r : StepReferences(json(s.env))) refs.insert(r);
    for (const auto& r : StepReferences(json(s.when), true)) refs.insert(r);
    for (const auto& r : StepReferences(s.foreach, s.foreach.is_string())) refs.insert(r);
    for (const auto& r : refs) {
      if (!up.count(r)) {
        return Status::BadRequest("step '" + s.name + "' reads steps." + r.substr(0, 64) + " but does not need it");
      }
    }
  }
  return p;
}

Result<PipelineSpec> ParsePipelineSpec(std::string_view text) {
  if (text.size() > (1u << 20)) return Status::TooLarge("a pipeline spec is at most 1 MiB");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    AIMASS_ASSIGN_OR_RETURN(j, config::ParseYaml(text));
  }
  return PipelineSpecFromJson(j);
}

json PipelineSpecJson(const PipelineSpec& p) {
  json steps = json::array();
  for (const auto& s : p.steps) {
    json j = {{"name", s.name},       {"uses", s.uses},         {"needs", s.needs},
              {"cache", s.cache},     {"retries", s.retries},   {"retry_backoff_s", s.retry_backoff_s},
              {"timeout_s", s.timeout_s}, {"sandbox", s.sandbox}, {"network", s.network},
              {"executor", s.executor}};
    if (!s.with.empty()) j["with"] = s.with;
    if (!s.command.empty()) j["command"] = s.command;
    if (!s.env.empty()) j["env"] = s.env;
    if (!s.resources.empty()) j["resources"] = s.resources;
    if (!s.when.empty()) j["when"] = s.when;
    if (!s.foreach.is_null()) j["foreach"] = s.foreach;
    steps.push_back(std::move(j));
  }
  json j = {{"name", p.name}, {"description", p.description}, {"params", p.params}, {"steps", steps}};
  if (!p.schedule.empty()) {
    j["schedule"] = p.schedule;
    j["time_zone"] = p.time_zone;
  }
  return j;
}

}  // namespace aimass::pipeline
