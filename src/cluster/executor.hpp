// Executor: what runs a job's attempt somewhere and reports how it ended. The local executor
// runs it as a process tree on this node; the Slurm executor hands it to Slurm. The cluster
// calls Start/Adopt/Stop from its loop; executors report ends through the Done callback, from
// their own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "cluster/job.hpp"
#include "common/status.hpp"

namespace aimass::cluster {

struct Outcome {
  JobState state = JobState::kFailed;  // succeeded | failed | cancelled | timed_out
  int64_t exit_code = -1;              // -1: no process exit to tell
  std::string reason;                  // "", "exit status 3", "oom_killed", "timeout", "cancelled", "node_lost", …
  int64_t max_memory_mb = 0;
};

class Executor {
 public:
  // (job id, attempt, how it ended)
  using Done = std::function<void(int64_t, int64_t, Outcome)>;
  // (job id, attempt, when it began to run): for executors that queue on their own (Slurm),
  // whose attempts wait before they run; always reported before Done.
  using Started = std::function<void(int64_t, int64_t, int64_t)>;
  virtual ~Executor() = default;
  // Starts attempt `job.attempts` (already counted) of `job` with `job.gpu_indexes`; returns the
  // handle to keep with the job (what Adopt needs after a restart).
  virtual Result<std::string> Start(const Job& job) = 0;
  // A job the store says is running here, from before a restart: follow it to its end, or
  // report node_lost when it is gone without a trace.
  virtual void Adopt(const Job& job) = 0;
  // Ends a running attempt as `why` (kCancelled or kTimedOut); Done follows once it is gone.
  virtual void Stop(const Job& job, JobState why) = 0;
  // Stops its threads; running jobs keep running (they are adopted after a restart).
  virtual void Shutdown() = 0;
};

}  // namespace aimass::cluster
