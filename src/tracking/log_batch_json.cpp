#include "tracking/log_batch_json.hpp"

namespace aimass::tracking {

namespace {

// [{"dataset": "name", "version": 3} | {"model": "name", "version": 2}, …]
Status ParseLinks(const nlohmann::json& body, const char* member, const char* direction, std::vector<RunLink>& out) {
  if (!body.contains(member)) return Status::Ok();
  const nlohmann::json& v = body[member];
  if (!v.is_array()) return Status::BadRequest(std::string(member) + " is an array of {dataset|model, version}");
  for (const auto& e : v) {
    RunLink l;
    l.direction = direction;
    if (!e.is_object()) return Status::BadRequest(std::string(member) + ": each item is {dataset|model, version}");
    for (const char* kind : {"dataset", "model"}) {
      if (e.contains(kind) && e[kind].is_string()) {
        l.kind = kind;
        l.name = e[kind].get<std::string>();
      }
    }
    if (l.kind.empty() || !e.contains("version") || !e["version"].is_number_integer()) {
      return Status::BadRequest(std::string(member) + ": each item is {\"dataset\" or \"model\": name, \"version\": n}");
    }
    l.version = e["version"].get<int64_t>();
    out.push_back(std::move(l));
  }
  return Status::Ok();
}

}  // namespace

Status ParseKeyValues(const nlohmann::json& body, const char* member, std::vector<std::pair<std::string, std::string>>& out) {
  if (!body.contains(member)) return Status::Ok();
  const nlohmann::json& v = body[member];
  auto text = [&](const nlohmann::json& x, const std::string& key) -> Result<std::string> {
    if (x.is_string()) return x.get<std::string>();
    if (x.is_number() || x.is_boolean()) return x.dump();
    return Status::BadRequest(std::string(member) + " '" + key.substr(0, 64) + "': a value is a string, number or boolean");
  };
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      AIMASS_ASSIGN_OR_RETURN(std::string s, text(it.value(), it.key()));
      out.emplace_back(it.key(), std::move(s));
    }
    return Status::Ok();
  }
  if (!v.is_array()) return Status::BadRequest(std::string(member) + " is an object or an array of {key, value}");
  for (const auto& e : v) {
    if (!e.is_object() || !e.contains("key") || !e["key"].is_string() || !e.contains("value")) {
      return Status::BadRequest(std::string(member) + ": each item is {\"key\", \"value\"}");
    }
    std::string key = e["key"].get<std::string>();
    AIMASS_ASSIGN_OR_RETURN(std::string s, text(e["value"], key));
    out.emplace_back(std::move(key), std::move(s));
  }
  return Status::Ok();
}

Result<LogBatch> ParseLogBatch(const nlohmann::json& body) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    if (k != "metrics" && k != "params" && k != "tags" && k != "inputs" && k != "outputs") {
      return Status::BadRequest("unknown field '" + k.substr(0, 64) + "' (metrics, params, tags, inputs, outputs)");
    }
  }
  LogBatch b;
  if (body.contains("metrics")) {
    const nlohmann::json& ms = body["metrics"];
    if (!ms.is_array()) return Status::BadRequest("metrics is an array of {key, value, step, timestamp}");
    b.metrics.reserve(ms.size());
    for (const auto& m : ms) {
      if (!m.is_object()) return Status::BadRequest("metrics: each item is {key, value, step, timestamp}");
      MetricPoint p;
      auto key = m.find("key");
      auto value = m.find("value");
      if (key == m.end() || !key->is_string()) return Status::BadRequest("metrics: each item needs a \"key\" string");
      p.key = key->get<std::string>();
      if (value == m.end() || !value->is_number()) {
        return Status::BadRequest("metric '" + p.key.substr(0, 64) + "': \"value\" must be a number");
      }
      p.value = value->get<double>();
      if (auto step = m.find("step"); step != m.end()) {
        if (!step->is_number_integer()) return Status::BadRequest("metric '" + p.key.substr(0, 64) + "': step is an integer");
        p.step = step->get<int64_t>();
      }
      if (auto ts = m.find("timestamp"); ts != m.end()) {
        if (!ts->is_number_integer()) {
          return Status::BadRequest("metric '" + p.key.substr(0, 64) + "': timestamp is an integer (unix ms)");
        }
        p.timestamp_ms = ts->get<int64_t>();
      }
      b.metrics.push_back(std::move(p));
    }
  }
  AIMASS_RETURN_IF_ERROR(ParseKeyValues(body, "params", b.params));
  AIMASS_RETURN_IF_ERROR(ParseKeyValues(body, "tags", b.tags));
  AIMASS_RETURN_IF_ERROR(ParseLinks(body, "inputs", "input", b.links));
  AIMASS_RETURN_IF_ERROR(ParseLinks(body, "outputs", "output", b.links));
  return b;
}


}  // namespace aimass::tracking
