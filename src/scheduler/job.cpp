#include "scheduler/job.hpp"

#include "common/name.hpp"
#include "common/time.hpp"
#include "scheduler/schedule.hpp"

namespace aimass::scheduler {

using nlohmann::json;

namespace {

constexpr size_t kMaxBody = 64 * 1024;
constexpr size_t kMaxCommand = 8 * 1024;

Result<int64_t> IntIn(const json& j, const char* key, int64_t def, int64_t lo, int64_t hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_integer()) return Status::BadRequest(std::string("'") + key + "' must be an integer");
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return Status::BadRequest(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " +
                              std::to_string(hi));
  }
  return v;
}

Result<std::string> StringIn(const json& j, const char* key, const std::string& def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_string()) return Status::BadRequest(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

// A body may be given as a string (sent as is) or as any other JSON value (sent as JSON).
Result<std::string> BodyIn(const json& j) {
  auto it = j.find("body");
  if (it == j.end() || it->is_null()) return std::string();
  std::string body = it->is_string() ? it->get<std::string>() : it->dump();
  if (body.size() > kMaxBody) return Status::TooLarge("target 'body' is over " + std::to_string(kMaxBody) + " bytes");
  return body;
}

Result<std::vector<std::pair<std::string, std::string>>> HeadersIn(const json& j) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = j.find("headers");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object() || it->size() > 32) return Status::BadRequest("target 'headers' must be an object of at most 32 strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return Status::BadRequest("target header '" + k.substr(0, 64) + "' must be a string");
    bool sane = !k.empty() && k.size() <= 128;
    for (char c : k) sane = sane && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    for (char c : v.get<std::string>()) sane = sane && c != '\r' && c != '\n' && c != '\0';
    if (!sane) return Status::BadRequest("target header '" + k.substr(0, 64) + "' is not a valid header");
    out.emplace_back(k, v.get<std::string>());
  }
  return out;
}

Result<Target> ParseTarget(const json& j) {
  if (!j.is_object()) return Status::BadRequest("'target' must be an object with a 'type' (http, mq or shell)");
  Target t;
  AIMASS_ASSIGN_OR_RETURN(std::string type, StringIn(j, "type", ""));
  AIMASS_ASSIGN_OR_RETURN(t.body, BodyIn(j));
  AIMASS_ASSIGN_OR_RETURN(t.headers, HeadersIn(j));
  if (type == "http") {
    t.type = Target::Type::kHttp;
    AIMASS_ASSIGN_OR_RETURN(t.method, StringIn(j, "method", "POST"));
    if (t.method != "GET" && t.method != "POST" && t.method != "PUT" && t.method != "PATCH" && t.method != "DELETE") {
      return Status::BadRequest("target 'method' must be GET, POST, PUT, PATCH or DELETE");
    }
    AIMASS_ASSIGN_OR_RETURN(t.path, StringIn(j, "path", ""));
    // A path, never a URL: the target calls into this platform, not anywhere a job's author likes.
    if (t.path.empty() || t.path[0] != '/' || t.path.starts_with("//") || t.path.size() > 2048) {
      return Status::BadRequest("target 'path' must be a path into the platform, starting with a single '/'");
    }
    for (char c : t.path) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return Status::BadRequest("target 'path' holds a space or control character");
    }
  } else if (type == "mq") {
    t.type = Target::Type::kMq;
    AIMASS_ASSIGN_OR_RETURN(t.topic, StringIn(j, "topic", ""));
    AIMASS_RETURN_IF_ERROR(ValidateName("topic", t.topic, 128));
    AIMASS_ASSIGN_OR_RETURN(t.key, StringIn(j, "key", ""));
    if (t.key.size() > 256) return Status::BadRequest("target 'key' is over 256 bytes");
  } else if (type == "shell") {
    t.type = Target::Type::kShell;
    AIMASS_ASSIGN_OR_RETURN(t.command, StringIn(j, "command", ""));
    if (t.command.empty() || t.command.size() > kMaxCommand || t.command.find('\0') != std::string::npos) {
      return Status::BadRequest("target 'command' must be a non-empty shell command of at most 8 KiB");
    }
  } else {
    return Status::BadRequest("target 'type' must be http, mq or shell");
  }
  return t;
}

json TargetJson(const Target& t) {
  json j = {{"type", TargetTypeName(t.type)}};
  switch (t.type) {
    case Target::Type::kHttp:
      j["method"] = t.method;
      j["path"] = t.path;
      break;
    case Target::Type::kMq:
      j["topic"] = t.topic;
      if (!t.key.empty()) j["key"] = t.key;
      break;
    case Target::Type::kShell:
      j["command"] = t.command;
      break;
  }
  if (t.type != Target::Type::kShell) {
    if (!t.body.empty()) j["body"] = t.body;
    if (!t.headers.empty()) {
      json h = json::object();
      for (const auto& [k, v] : t.headers) h[k] = v;
      j["headers"] = h;
    }
  }
  return j;
}

}  // namespace

const char* PolicyName(ConcurrencyPolicy p) {
  switch (p) {
    case ConcurrencyPolicy::kAllow: return "Allow";
    case ConcurrencyPolicy::kForbid: return "Forbid";
    case ConcurrencyPolicy::kReplace: return "Replace";
  }
  return "Allow";
}

const char* TargetTypeName(Target::Type t) {
  switch (t) {
    case Target::Type::kHttp: return "http";
    case Target::Type::kMq: return "mq";
    case Target::Type::kShell: return "shell";
  }
  return "http";
}

Result<JobSpec> ParseJobSpec(const json& j) {
  if (!j.is_object()) return Status::BadRequest("a job must be a JSON object");
  static const std::vector<std::string> kKnown = {"name", "schedule", "time_zone", "concurrency_policy",
                                                  "starting_deadline_seconds", "max_catchup", "retries",
                                                  "retry_backoff_ms", "timeout_seconds", "history_limit", "target",
                                                  "paused"};
  for (const auto& [k, v] : j.items()) {
    if (std::find(kKnown.begin(), kKnown.end(), k) == kKnown.end()) {
      return Status::BadRequest("unknown field '" + k.substr(0, 64) + "'");
    }
  }
  JobSpec s;
  AIMASS_ASSIGN_OR_RETURN(s.name, StringIn(j, "name", ""));
  AIMASS_RETURN_IF_ERROR(ValidateName("job", s.name, 128));
  AIMASS_ASSIGN_OR_RETURN(s.schedule, StringIn(j, "schedule", ""));
  AIMASS_ASSIGN_OR_RETURN(s.time_zone, StringIn(j, "time_zone", "UTC"));
  AIMASS_RETURN_IF_ERROR(Schedule::Parse(s.schedule, s.time_zone).status());
  AIMASS_ASSIGN_OR_RETURN(std::string policy, StringIn(j, "concurrency_policy", "Allow"));
  if (policy == "Allow") s.concurrency_policy = ConcurrencyPolicy::kAllow;
  else if (policy == "Forbid") s.concurrency_policy = ConcurrencyPolicy::kForbid;
  else if (policy == "Replace") s.concurrency_policy = ConcurrencyPolicy::kReplace;
  else return Status::BadRequest("'concurrency_policy' must be Allow, Forbid or Replace");
  AIMASS_ASSIGN_OR_RETURN(s.starting_deadline_s, IntIn(j, "starting_deadline_seconds", 0, 0, 366LL * 86400));
  AIMASS_ASSIGN_OR_RETURN(s.max_catchup, IntIn(j, "max_catchup", 1, 1, 100));
  AIMASS_ASSIGN_OR_RETURN(s.retries, IntIn(j, "retries", 0, 0, 10));
  AIMASS_ASSIGN_OR_RETURN(s.retry_backoff_ms, IntIn(j, "retry_backoff_ms", 1000, 0, 3600 * 1000));
  AIMASS_ASSIGN_OR_RETURN(s.timeout_s, IntIn(j, "timeout_seconds", 300, 1, 86400));
  AIMASS_ASSIGN_OR_RETURN(s.history_limit, IntIn(j, "history_limit", 100, 1, 10000));
  auto t = j.find("target");
  if (t == j.end()) return Status::BadRequest("'target' is required");
  AIMASS_ASSIGN_OR_RETURN(s.target, ParseTarget(*t));
  return s;
}

json ToJson(const JobSpec& s) {
  return {{"name", s.name},
          {"schedule", s.schedule},
          {"time_zone", s.time_zone},
          {"concurrency_policy", PolicyName(s.concurrency_policy)},
          {"starting_deadline_seconds", s.starting_deadline_s},
          {"max_catchup", s.max_catchup},
          {"retries", s.retries},
          {"retry_backoff_ms", s.retry_backoff_ms},
          {"timeout_seconds", s.timeout_s},
          {"history_limit", s.history_limit},
          {"target", TargetJson(s.target)}};
}

json ToJson(const Job& job) {
  json j = ToJson(job.spec);
  j["owner"] = job.owner;
  j["paused"] = job.paused;
  j["next_run"] = job.next_run_ms > 0 && !job.paused ? json(Rfc3339Ms(job.next_run_ms)) : json(nullptr);
  j["created"] = Rfc3339Ms(job.created_ms);
  j["updated"] = Rfc3339Ms(job.updated_ms);
  return j;
}

json ToJson(const Run& r) {
  json j = {{"id", r.id},
            {"job", r.job},
            {"scheduled", Rfc3339Ms(r.scheduled_ms)},
            {"trigger", r.trigger},
            {"status", r.status},
            {"attempts", r.attempts},
            {"node", r.node},
            {"fence", r.fence}};
  j["started"] = r.started_ms ? json(Rfc3339Ms(r.started_ms)) : json(nullptr);
  j["finished"] = r.finished_ms ? json(Rfc3339Ms(r.finished_ms)) : json(nullptr);
  j["duration_ms"] = r.started_ms && r.finished_ms ? json(r.finished_ms - r.started_ms) : json(nullptr);
  if (!r.output.empty()) j["output"] = r.output;
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

}  // namespace aimass::scheduler
