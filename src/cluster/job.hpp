// Job: one command the cluster runs for a user, with the resources it asks for, where it runs
// (the local executor on a node, or Slurm), its limits and its retries; and what happened to it.
// Plain data: parsed from and rendered to the API's JSON here, stored by ClusterStore.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::cluster {

// queued → running → succeeded | failed | cancelled | timed_out. A failed or timed-out attempt
// with retries left goes back to queued.
enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kTimedOut };
const char* StateName(JobState s);
Result<JobState> ParseState(std::string_view s);
inline bool Finished(JobState s) { return s != JobState::kQueued && s != JobState::kRunning; }

struct Resources {
  int64_t cpus = 1;        // whole CPUs (a cgroup CPU quota of that many)
  int64_t memory_mb = 512; // hard limit; over it the kernel kills the job (oom_killed)
  double gpus = 0;         // whole GPUs, or one share below 1 (several jobs on one GPU)
};

struct JobSpec {
  std::string name;
  std::vector<std::string> command;          // argv; command[0] found on PATH
  std::string workdir;                       // a host directory (unsandboxed jobs only); empty: the job's own
  std::map<std::string, std::string> env;    // never shown back (may hold secrets)
  Resources resources;
  std::string executor = "local";            // local | slurm
  int64_t timeout_s = 3600;                  // per attempt
  int64_t retries = 0;                       // further attempts after a failed one
  int64_t priority = 0;                      // higher first
  bool sandbox = true;                       // bubblewrap: read-only system, no network, own workdir
  bool network = false;                      // a sandboxed job may ask for the host's network
  std::map<std::string, std::string> labels;
};

struct Job {
  int64_t id = 0;
  JobSpec spec;
  std::string owner;
  std::vector<std::string> owner_roles;  // at submission: team quotas count by role
  JobState state = JobState::kQueued;
  std::string reason;     // why it ended (or why the last attempt failed): oom_killed, timeout, node_lost, …
  int64_t exit_code = -1; // -1 until a process exited
  int64_t attempts = 0;
  std::string node;       // where the current or last attempt runs ("slurm" for Slurm jobs)
  std::vector<int> gpu_indexes;
  std::string handle;     // the executor's: "pid:start" locally, the Slurm job id
  int64_t created_ms = 0, started_ms = 0, finished_ms = 0, updated_ms = 0;
  int64_t max_memory_mb = 0;  // peak, when the cgroup tells
  std::string stop;           // "cancelled" once a cancel was asked of a running job
};

// Parses and checks a submission ({"name","command",…}); defaults as in JobSpec.
Result<JobSpec> ParseJobSpec(const nlohmann::json& j);
nlohmann::json SpecJson(const JobSpec& spec, bool with_env_values);
Result<JobSpec> SpecFromJson(const nlohmann::json& j);  // what SpecJson stored
nlohmann::json ToJson(const Job& job);

}  // namespace aimass::cluster
