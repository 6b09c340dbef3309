// Job and Run: what the scheduler keeps. A job is a schedule (cron expression in a time zone),
// the policies that say what to do when runs overlap or were missed, and one target to fire:
// an HTTP call into the platform, a message published to a topic, or a shell command. A run is
// one firing of a job, kept as history.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/status.hpp"

namespace aimass::scheduler {

enum class ConcurrencyPolicy { kAllow, kForbid, kReplace };

struct Target {
  enum class Type { kHttp, kMq, kShell } type = Type::kHttp;
  // http: a path into the platform (never another host), called with a token of the job's owner.
  std::string method = "POST";
  std::string path;
  // http: request body; mq: message body.
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // mq
  std::string topic;
  std::string key;
  // shell: run by /bin/sh -c in the scheduler's work directory with a minimal environment.
  std::string command;
};

struct JobSpec {
  std::string name;
  std::string schedule;   // 5 or 6 fields, or @hourly-style macro
  std::string time_zone = "UTC";
  ConcurrencyPolicy concurrency_policy = ConcurrencyPolicy::kAllow;
  int64_t starting_deadline_s = 0;  // 0: a late run is started however late it is
  int64_t max_catchup = 1;          // after downtime, how many of the missed runs to start
  int64_t retries = 0;              // further attempts after a failed one
  int64_t retry_backoff_ms = 1000;  // doubled after each failed attempt
  int64_t timeout_s = 300;          // per attempt
  int64_t history_limit = 100;      // runs kept per job
  Target target;
};

struct Job {
  JobSpec spec;
  std::string owner;       // who created it; targets act as this user
  bool paused = false;
  int64_t next_run_ms = 0; // the next scheduled time not yet handled; 0 when the schedule never fires again
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

// A run's status: queued (manual trigger waiting for the leader), running, succeeded, failed,
// timed_out, cancelled (replaced, or the server stopped), skipped (Forbid: the previous run was
// still going), missed (not started: past starting_deadline_seconds or beyond max_catchup).
struct Run {
  int64_t id = 0;
  std::string job;
  int64_t scheduled_ms = 0;
  std::string trigger;  // schedule | manual
  std::string status;
  int64_t attempts = 0;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::string output;   // an excerpt: the first and last bytes of what the target answered
  std::string error;
  std::string node;     // the process that fired it
  int64_t fence = 0;    // the leader's lease token when it was fired
};

const char* PolicyName(ConcurrencyPolicy p);
const char* TargetTypeName(Target::Type t);

// Parses and checks a job from the API's JSON ({"name","schedule","time_zone","target":{…},…}).
// The schedule and time zone are checked by parsing them.
Result<JobSpec> ParseJobSpec(const nlohmann::json& j);
nlohmann::json ToJson(const JobSpec& spec);
nlohmann::json ToJson(const Job& job);
nlohmann::json ToJson(const Run& run);

}  // namespace aimass::scheduler
