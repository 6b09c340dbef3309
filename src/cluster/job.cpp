#include "cluster/job.hpp"

#include <cmath>

#include "common/name.hpp"
#include "common/time.hpp"

namespace aimass::cluster {

namespace {

using nlohmann::json;

constexpr size_t kMaxArgs = 4096;
constexpr size_t kMaxCommandBytes = 256 * 1024;
constexpr size_t kMaxEnv = 256;

Status CheckKeys(const json& j, std::initializer_list<const char*> allowed, const char* what) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* a : allowed) known = known || it.key() == a;
    if (!known) return Status::BadRequest(std::string("unknown field '") + it.key().substr(0, 64) + "' in " + what);
  }
  return Status::Ok();
}

Result<int64_t> Int(const json& j, const char* key, int64_t def, int64_t lo, int64_t hi) {
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

Result<bool> Bool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) return Status::BadRequest(std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

Result<std::map<std::string, std::string>> StringMap(const json& j, const char* key, size_t max) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object() || it->size() > max) {
    return Status::BadRequest(std::string("'") + key + "' must be an object of at most " + std::to_string(max) + " strings");
  }
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (!e.value().is_string()) return Status::BadRequest(std::string("'") + key + "." + e.key().substr(0, 64) + "' must be a string");
    out[e.key()] = e.value().get<std::string>();
  }
  return out;
}

bool ValidEnvName(const std::string& k) {
  if (k.empty() || k.size() > 128 || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

}  // namespace

const char* StateName(JobState s) {
  switch (s) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
    case JobState::kTimedOut: return "timed_out";
  }
  return "failed";
}

Result<JobState> ParseState(std::string_view s) {
  for (JobState st : {JobState::kQueued, JobState::kRunning, JobState::kSucceeded, JobState::kFailed,
                      JobState::kCancelled, JobState::kTimedOut}) {
    if (s == StateName(st)) return st;
  }
  return Status::BadRequest("unknown job state '" + std::string(s.substr(0, 32)) +
                            "' (queued, running, succeeded, failed, cancelled, timed_out)");
}

Result<JobSpec> ParseJobSpec(const json& j) {
  if (!j.is_object()) return Status::BadRequest("a job is a JSON object");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j,
                                   {"name", "command", "workdir", "env", "resources", "executor", "timeout_s",
                                    "retries", "priority", "sandbox", "network", "labels"},
                                   "the job"));
  JobSpec s;
  auto name = j.find("name");
  if (name != j.end() && !name->is_null()) {
    if (!name->is_string()) return Status::BadRequest("'name' must be a string");
    s.name = name->get<std::string>();
    AIMASS_RETURN_IF_ERROR(ValidateName("job name", s.name, 128));
  }
  auto cmd = j.find("command");
  if (cmd == j.end() || !cmd->is_array() || cmd->empty() || cmd->size() > kMaxArgs) {
    return Status::BadRequest("'command' must be a non-empty array of strings (argv)");
  }
  size_t bytes = 0;
  for (const auto& a : *cmd) {
    if (!a.is_string()) return Status::BadRequest("'command' must be a non-empty array of strings (argv)");
    const std::string& arg = a.get_ref<const std::string&>();
    if (arg.find('\0') != std::string::npos) return Status::BadRequest("'command' may not hold NUL bytes");
    bytes += arg.size();
    s.command.push_back(arg);
  }
  if (bytes > kMaxCommandBytes) return Status::TooLarge("'command' is over 256 KiB");
  if (s.command[0].empty()) return Status::BadRequest("'command[0]' is empty");

  auto wd = j.find("workdir");
  if (wd != j.end() && !wd->is_null()) {
    if (!wd->is_string()) return Status::BadRequest("'workdir' must be a string");
    s.workdir = wd->get<std::string>();
    if (!s.workdir.empty() && s.workdir[0] != '/') return Status::BadRequest("'workdir' must be an absolute path");
    if (s.workdir.find("/../") != std::string::npos || s.workdir.ends_with("/..") ||
        s.workdir.find('\0') != std::string::npos) {
      return Status::BadRequest("'workdir' may not contain '..'");
    }
  }
  AIMASS_ASSIGN_OR_RETURN(s.env, StringMap(j, "env", kMaxEnv));
  for (const auto& [k, v] : s.env) {
    if (!ValidEnvName(k)) return Status::BadRequest("env name '" + k.substr(0, 64) + "' is not [A-Za-z_][A-Za-z0-9_]*");
    if (v.find('\0') != std::string::npos) return Status::BadRequest("env '" + k + "' holds a NUL byte");
  }
  AIMASS_ASSIGN_OR_RETURN(s.labels, StringMap(j, "labels", 32));

  auto res = j.find("resources");
  if (res != j.end() && !res->is_null()) {
    if (!res->is_object()) return Status::BadRequest("'resources' must be an object");
    AIMASS_RETURN_IF_ERROR(CheckKeys(*res, {"cpus", "memory_mb", "gpus"}, "'resources'"));
    AIMASS_ASSIGN_OR_RETURN(s.resources.cpus, Int(*res, "cpus", 1, 1, 4096));
    AIMASS_ASSIGN_OR_RETURN(s.resources.memory_mb, Int(*res, "memory_mb", 512, 4, int64_t{1} << 30));
    auto g = res->find("gpus");
    if (g != res->end() && !g->is_null()) {
      if (!g->is_number()) return Status::BadRequest("'resources.gpus' must be a number");
      double v = g->get<double>();
      // Whole GPUs, or one share of a GPU (0 < share < 1), never 1.5.
      if (!(v >= 0 && v <= 64) || (v > 1 && std::floor(v) != v)) {
        return Status::BadRequest("'resources.gpus' must be a whole number of GPUs (0-64) or a share below 1");
      }
      s.resources.gpus = v;
    }
  }
  auto ex = j.find("executor");
  if (ex != j.end() && !ex->is_null()) {
    if (!ex->is_string() || (*ex != "local" && *ex != "slurm")) return Status::BadRequest("'executor' must be 'local' or 'slurm'");
    s.executor = ex->get<std::string>();
  }
  AIMASS_ASSIGN_OR_RETURN(s.timeout_s, Int(j, "timeout_s", 3600, 1, 30 * 86400));
  AIMASS_ASSIGN_OR_RETURN(s.retries, Int(j, "retries", 0, 0, 100));
  AIMASS_ASSIGN_OR_RETURN(s.priority, Int(j, "priority", 0, -1000000, 1000000));
  AIMASS_ASSIGN_OR_RETURN(s.sandbox, Bool(j, "sandbox", true));
  AIMASS_ASSIGN_OR_RETURN(s.network, Bool(j, "network", false));
  if (s.sandbox && !s.workdir.empty()) {
    return Status::BadRequest("'workdir' is for unsandboxed jobs: a sandboxed job works in its own directory");
  }
  if (s.executor == "slurm" && s.sandbox) {
    return Status::BadRequest("Slurm jobs run as Slurm runs them: say \"sandbox\": false (and hold jobs:unsandboxed)");
  }
  if (s.name.empty()) s.name = s.command[0].substr(s.command[0].rfind('/') + 1).substr(0, 64);
  if (!ValidateName("job name", s.name, 128).ok()) s.name = "job";
  return s;
}

json SpecJson(const JobSpec& s, bool with_env_values) {
  json env = json::object();
  for (const auto& [k, v] : s.env) env[k] = with_env_values ? json(v) : json("***");
  json j = {{"name", s.name},
            {"command", s.command},
            {"env", env},
            {"resources", {{"cpus", s.resources.cpus}, {"memory_mb", s.resources.memory_mb}, {"gpus", s.resources.gpus}}},
            {"executor", s.executor},
            {"timeout_s", s.timeout_s},
            {"retries", s.retries},
            {"priority", s.priority},
            {"sandbox", s.sandbox},
            {"network", s.network},
            {"labels", s.labels}};
  if (!s.workdir.empty()) j["workdir"] = s.workdir;
  return j;
}

Result<JobSpec> SpecFromJson(const json& j) { return ParseJobSpec(j); }

json ToJson(const Job& job) {
  json j = SpecJson(job.spec, false);
  j["id"] = job.id;
  j["owner"] = job.owner;
  j["state"] = StateName(job.state);
  j["reason"] = job.reason;
  j["exit_code"] = job.exit_code < 0 ? json(nullptr) : json(job.exit_code);
  j["attempts"] = job.attempts;
  j["node"] = job.node;
  j["gpu_indexes"] = job.gpu_indexes;
  if (job.max_memory_mb > 0) j["max_memory_mb"] = job.max_memory_mb;
  if (job.spec.executor == "slurm" && !job.handle.empty()) j["slurm_job_id"] = job.handle;
  j["created_at"] = Rfc3339Ms(job.created_ms);
  j["started_at"] = job.started_ms > 0 ? json(Rfc3339Ms(job.started_ms)) : json(nullptr);
  j["finished_at"] = job.finished_ms > 0 ? json(Rfc3339Ms(job.finished_ms)) : json(nullptr);
  return j;
}

}  // namespace aimass::cluster
