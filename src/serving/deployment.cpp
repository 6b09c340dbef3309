#include "serving/deployment.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "common/name.hpp"
#include "common/time.hpp"

namespace aimass::serving {

using Json = nlohmann::json;

namespace {

Status IntField(const Json& body, const char* key, int64_t lo, int64_t hi, int64_t& out) {
  if (!body.contains(key)) return Status::Ok();
  const Json& v = body[key];
  if (!v.is_number_integer()) return Status::BadRequest(std::string(key) + " must be an integer");
  int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) {
    return Status::BadRequest(std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  out = n;
  return Status::Ok();
}

template <typename T>
Status IntInto(const Json& body, const char* key, int64_t lo, int64_t hi, T& out) {
  int64_t v = static_cast<int64_t>(out);
  AIMASS_RETURN_IF_ERROR(IntField(body, key, lo, hi, v));
  out = static_cast<T>(v);
  return Status::Ok();
}

Status NumberField(const Json& body, const char* key, double lo, double hi, double& out) {
  if (!body.contains(key)) return Status::Ok();
  if (!body[key].is_number()) return Status::BadRequest(std::string(key) + " must be a number");
  double v = body[key].get<double>();
  if (!(v >= lo && v <= hi)) return Status::BadRequest(std::string(key) + " is out of range");
  out = v;
  return Status::Ok();
}

Status CheckKeys(const Json& body, const std::set<std::string>& allowed, const char* what) {
  for (const auto& [k, _] : body.items()) {
    if (!allowed.count(k)) return Status::BadRequest("unknown field '" + k.substr(0, 64) + "' in " + what);
  }
  return Status::Ok();
}

Status ParseAuto(const Json& j, AutoPolicy& a) {
  if (!j.is_object()) return Status::BadRequest("traffic.auto must be an object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"steps", "window_s", "min_requests", "max_error_rate_delta", "max_p99_ratio"},
                                   "traffic.auto"));
  if (j.contains("steps")) {
    if (!j["steps"].is_array() || j["steps"].empty() || j["steps"].size() > 20) {
      return Status::BadRequest("traffic.auto.steps must be 1 to 20 weights");
    }
    a.steps.clear();
    int prev = 0;
    for (const auto& s : j["steps"]) {
      if (!s.is_number_integer() || s.get<int>() <= prev || s.get<int>() > 100) {
        return Status::BadRequest("traffic.auto.steps must be increasing weights in 1..100");
      }
      prev = s.get<int>();
      a.steps.push_back(prev);
    }
    if (a.steps.back() != 100) return Status::BadRequest("traffic.auto.steps must end at 100");
  }
  AIMASS_RETURN_IF_ERROR(IntField(j, "window_s", 1, 86400, a.window_s));
  AIMASS_RETURN_IF_ERROR(IntField(j, "min_requests", 1, 1000000, a.min_requests));
  AIMASS_RETURN_IF_ERROR(NumberField(j, "max_error_rate_delta", 0, 1, a.max_error_rate_delta));
  AIMASS_RETURN_IF_ERROR(NumberField(j, "max_p99_ratio", 1, 1000, a.max_p99_ratio));
  return Status::Ok();
}

Status ParseTraffic(const Json& j, TrafficSpec& t) {
  if (!j.is_object()) return Status::BadRequest("traffic must be an object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"candidate", "weight", "shadow_percent", "auto"}, "traffic"));
  if (j.contains("candidate")) {
    const Json& c = j["candidate"];
    if (c.is_null()) {
      t.candidate.reset();
    } else {
      if (!c.is_object() || !c.contains("version") || !c["version"].is_number_integer() || c["version"].get<int64_t>() < 1) {
        return Status::BadRequest("traffic.candidate must be {\"version\": N}");
      }
      t.candidate = c["version"].get<int64_t>();
    }
  }
  AIMASS_RETURN_IF_ERROR(IntInto(j, "weight", 0, 100, t.weight));
  AIMASS_RETURN_IF_ERROR(IntInto(j, "shadow_percent", 0, 100, t.shadow_percent));
  if (j.contains("auto")) {
    if (j["auto"].is_null()) {
      t.autopilot.reset();
    } else {
      AutoPolicy a;
      AIMASS_RETURN_IF_ERROR(ParseAuto(j["auto"], a));
      t.autopilot = a;
    }
  }
  if (!t.candidate && (t.weight > 0 || t.shadow_percent > 0 || t.autopilot)) {
    return Status::BadRequest("traffic.weight, shadow_percent and auto need a traffic.candidate");
  }
  if (t.autopilot && j.contains("auto") && !j.contains("weight")) t.weight = t.autopilot->steps.front();
  return Status::Ok();
}

Status ParseLlm(const Json& j, LlmOptions& o) {
  if (!j.is_object()) return Status::BadRequest("llm must be an object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"threads", "chat_template", "int8", "max_seqs", "kv_cache_mb", "max_model_len",
                                       "max_batch_tokens"},
                                   "llm"));
  AIMASS_RETURN_IF_ERROR(IntInto(j, "threads", 0, 256, o.threads));
  AIMASS_RETURN_IF_ERROR(IntInto(j, "max_seqs", 1, 1024, o.max_seqs));
  AIMASS_RETURN_IF_ERROR(IntField(j, "kv_cache_mb", 1, 1 << 20, o.kv_cache_mb));
  AIMASS_RETURN_IF_ERROR(IntField(j, "max_model_len", 0, 1 << 24, o.max_model_len));
  AIMASS_RETURN_IF_ERROR(IntField(j, "max_batch_tokens", 16, 1 << 20, o.max_batch_tokens));
  if (j.contains("int8")) {
    if (!j["int8"].is_boolean()) return Status::BadRequest("llm.int8 must be true or false");
    o.int8 = j["int8"].get<bool>();
  }
  if (j.contains("chat_template")) {
    static const std::vector<std::string> kTemplates = {"", "llama2", "llama3", "chatml", "plain"};
    if (!j["chat_template"].is_string() ||
        std::find(kTemplates.begin(), kTemplates.end(), j["chat_template"].get<std::string>()) == kTemplates.end()) {
      return Status::BadRequest("llm.chat_template must be one of llama2, llama3, chatml, plain (or empty: the model's)");
    }
    o.chat_template = j["chat_template"].get<std::string>();
  }
  return Status::Ok();
}

Result<AutoscaleSpec> ParseAutoscale(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("autoscale must be an object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"min_instances", "max_instances", "target_queue_ms", "target_in_flight",
                                       "cooldown_s", "scale_down_after_s"},
                                   "autoscale"));
  AutoscaleSpec a;
  AIMASS_RETURN_IF_ERROR(IntInto(j, "min_instances", 1, 64, a.min_instances));
  AIMASS_RETURN_IF_ERROR(IntInto(j, "max_instances", 1, 64, a.max_instances));
  AIMASS_RETURN_IF_ERROR(IntField(j, "cooldown_s", 0, 3600, a.cooldown_s));
  AIMASS_RETURN_IF_ERROR(IntField(j, "scale_down_after_s", 1, 86400, a.scale_down_after_s));
  for (auto [key, into] : {std::pair{"target_queue_ms", &a.target_queue_ms}, {"target_in_flight", &a.target_in_flight}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number() || j[key].get<double>() <= 0 || j[key].get<double>() > 1e6) {
      return Status::BadRequest(std::string("autoscale.") + key + " must be a positive number");
    }
    *into = j[key].get<double>();
  }
  if (a.min_instances > a.max_instances) return Status::BadRequest("autoscale.min_instances is above max_instances");
  if ((a.target_queue_ms > 0) == (a.target_in_flight > 0)) {
    return Status::BadRequest("autoscale needs one target: target_queue_ms or target_in_flight");
  }
  return a;
}

}  // namespace

Status ParseDeploymentSpec(const Json& body, bool partial, DeploymentSpec& s) {
  if (!body.is_object()) return Status::BadRequest("the body must be a JSON object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(body, {"name", "model", "version", "alias", "instances", "threads", "max_batch_size",
                                          "max_queue_delay_us", "preferred_batch_sizes", "max_queue_size",
                                          "timeout_ms", "optimize", "traffic", "autoscale", "llm"},
                                   "the deployment"));
  if (!partial) {
    for (const char* k : {"name", "model"}) {
      if (!body.contains(k) || !body[k].is_string()) return Status::BadRequest(std::string(k) + " is required");
    }
    s.name = body["name"].get<std::string>();
    s.model = body["model"].get<std::string>();
    AIMASS_RETURN_IF_ERROR(ValidateName("deployment", s.name, 128));
    AIMASS_RETURN_IF_ERROR(ValidateName("model", s.model, 128));
  } else if (body.contains("name") || body.contains("model")) {
    return Status::BadRequest("name and model cannot change; create another deployment");
  }
  if (body.contains("version") && body.contains("alias")) {
    return Status::BadRequest("give version or alias, not both");
  }
  if (body.contains("version")) {
    if (!body["version"].is_number_integer() || body["version"].get<int64_t>() < 1) {
      return Status::BadRequest("version must be a positive integer");
    }
    s.version = body["version"].get<int64_t>();
    s.alias.reset();
  }
  if (body.contains("alias")) {
    if (!body["alias"].is_string()) return Status::BadRequest("alias must be a string");
    std::string alias = body["alias"].get<std::string>();
    AIMASS_RETURN_IF_ERROR(ValidateName("alias", alias, 128));
    s.alias = alias;
    s.version.reset();
  }
  if (!s.version && !s.alias) return Status::BadRequest("version or alias is required");
  AIMASS_RETURN_IF_ERROR(IntInto(body, "instances", 1, 64, s.runner.instances));
  AIMASS_RETURN_IF_ERROR(IntInto(body, "threads", 1, 64, s.runner.threads));
  AIMASS_RETURN_IF_ERROR(IntField(body, "max_batch_size", 0, 4096, s.runner.max_batch_size));
  AIMASS_RETURN_IF_ERROR(IntField(body, "max_queue_delay_us", 0, 10000000, s.runner.max_queue_delay_us));
  AIMASS_RETURN_IF_ERROR(IntField(body, "max_queue_size", 1, 1000000, s.runner.max_queue_size));
  AIMASS_RETURN_IF_ERROR(IntField(body, "timeout_ms", 1, 3600000, s.timeout_ms));
  if (body.contains("optimize")) {
    if (!body["optimize"].is_boolean()) return Status::BadRequest("optimize must be true or false");
    s.runner.optimize = body["optimize"].get<bool>();
  }
  if (body.contains("preferred_batch_sizes")) {
    const Json& p = body["preferred_batch_sizes"];
    if (!p.is_array() || p.size() > 32) return Status::BadRequest("preferred_batch_sizes must be an array of sizes");
    s.runner.preferred_batch_sizes.clear();
    for (const auto& v : p) {
      if (!v.is_number_integer() || v.get<int64_t>() < 1) {
        return Status::BadRequest("preferred_batch_sizes must hold positive integers");
      }
      s.runner.preferred_batch_sizes.push_back(v.get<int64_t>());
    }
  }
  for (int64_t p : s.runner.preferred_batch_sizes) {
    if (s.runner.max_batch_size > 1 && p > s.runner.max_batch_size) {
      return Status::BadRequest("a preferred batch size is larger than max_batch_size");
    }
  }
  if (body.contains("llm")) AIMASS_RETURN_IF_ERROR(ParseLlm(body["llm"], s.runner.llm));
  if (body.contains("traffic")) AIMASS_RETURN_IF_ERROR(ParseTraffic(body["traffic"], s.traffic));
  if (body.contains("autoscale")) {
    if (body["autoscale"].is_null()) {
      s.autoscale.reset();
    } else {
      AIMASS_ASSIGN_OR_RETURN(s.autoscale, ParseAutoscale(body["autoscale"]));
    }
  }
  if (s.autoscale) {
    // The instances to start with: the minimum, unless a count inside the range was given.
    if (!body.contains("instances") || s.runner.instances < s.autoscale->min_instances ||
        s.runner.instances > s.autoscale->max_instances) {
      if (body.contains("instances")) return Status::BadRequest("instances must lie within autoscale's min and max");
      s.runner.instances = s.autoscale->min_instances;
    }
  }
  return Status::Ok();
}

Json SpecToJson(const DeploymentSpec& s) {
  Json j = {{"name", s.name},
            {"model", s.model},
            {"instances", s.runner.instances},
            {"threads", s.runner.threads},
            {"max_batch_size", s.runner.max_batch_size},
            {"max_queue_delay_us", s.runner.max_queue_delay_us},
            {"preferred_batch_sizes", s.runner.preferred_batch_sizes},
            {"max_queue_size", s.runner.max_queue_size},
            {"timeout_ms", s.timeout_ms},
            {"optimize", s.runner.optimize},
            {"created_by", s.created_by}};
  const LlmOptions& l = s.runner.llm;
  j["llm"] = {{"threads", l.threads},       {"chat_template", l.chat_template}, {"int8", l.int8},
              {"max_seqs", l.max_seqs},     {"kv_cache_mb", l.kv_cache_mb},     {"max_model_len", l.max_model_len},
              {"max_batch_tokens", l.max_batch_tokens}};
  j["version"] = s.version ? Json(*s.version) : Json(nullptr);
  j["alias"] = s.alias ? Json(*s.alias) : Json(nullptr);
  Json t = {{"weight", s.traffic.weight}, {"shadow_percent", s.traffic.shadow_percent}};
  t["candidate"] = s.traffic.candidate ? Json{{"version", *s.traffic.candidate}} : Json(nullptr);
  if (s.traffic.autopilot) {
    const AutoPolicy& a = *s.traffic.autopilot;
    t["auto"] = {{"steps", a.steps},
                 {"window_s", a.window_s},
                 {"min_requests", a.min_requests},
                 {"max_error_rate_delta", a.max_error_rate_delta},
                 {"max_p99_ratio", a.max_p99_ratio}};
  } else {
    t["auto"] = nullptr;
  }
  j["traffic"] = t;
  if (s.autoscale) {
    const AutoscaleSpec& a = *s.autoscale;
    j["autoscale"] = {{"min_instances", a.min_instances}, {"max_instances", a.max_instances},
                      {"cooldown_s", a.cooldown_s}, {"scale_down_after_s", a.scale_down_after_s}};
    if (a.target_queue_ms > 0) j["autoscale"]["target_queue_ms"] = a.target_queue_ms;
    if (a.target_in_flight > 0) j["autoscale"]["target_in_flight"] = a.target_in_flight;
  }
  return j;
}

Json EventToJson(const TrafficEvent& e) {
  Json j = {{"at", Rfc3339Ms(e.at_ms)}, {"action", e.action}, {"weight", e.weight}, {"detail", e.detail}};
  j["from_version"] = e.from_version ? Json(*e.from_version) : Json(nullptr);
  j["to_version"] = e.to_version ? Json(*e.to_version) : Json(nullptr);
  return j;
}

Json ViewToJson(const DeploymentView& v) {
  Json j = SpecToJson(v.spec);
  j["created_at"] = Rfc3339(v.spec.created_at);
  j["updated_at"] = Rfc3339(v.spec.updated_at);
  j["state"] = v.state;
  if (!v.reason.empty()) j["reason"] = v.reason;
  if (v.autoscale && j.contains("autoscale")) {
    j["autoscale"]["instances"] = v.autoscale->instances;
    j["autoscale"]["last_action"] = v.autoscale->last_action.empty() ? Json(nullptr) : Json(v.autoscale->last_action);
    j["autoscale"]["last_reason"] = v.autoscale->last_reason;
    j["autoscale"]["last_change_at"] =
        v.autoscale->last_change_ms ? Json(Rfc3339Ms(v.autoscale->last_change_ms)) : Json(nullptr);
  }
  Json serving = Json::array();
  for (const auto& s : v.serving) serving.push_back({{"version", s.version}, {"role", s.role}, {"weight", s.weight}});
  j["serving"] = serving;
  Json history = Json::array();
  for (const auto& e : v.history) history.push_back(EventToJson(e));
  j["traffic"]["history"] = history;
  return j;
}

}  // namespace aimass::serving
