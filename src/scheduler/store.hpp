// SchedulerStore: the scheduler's tables: jobs, their run history, and the leader lease that
// makes several processes sharing one metadata store fire each schedule once.
//
// The lease is a row (holder, token, expiry). Whoever holds an unexpired lease is the leader;
// taking over an expired lease increments the token, the fencing token. Every change a leader
// makes because it is the leader (claiming a scheduled time, starting a queued run) checks in
// the same transaction that the lease row still names it with that token, so a leader that
// stalled past its expiry and lost the lease cannot fire anything, however late it wakes up.
// Thread-safe (the Db is).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "scheduler/job.hpp"
#include "storage/db.hpp"

namespace aimass::scheduler {

class SchedulerStore {
 public:
  explicit SchedulerStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status InsertJob(const Job& job);  // Conflict when the name is taken
  Status UpdateJob(const Job& job);  // spec, paused, next run; NotFound when absent
  Result<Job> GetJob(const std::string& name);
  Result<std::vector<Job>> ListJobs();
  Status DeleteJob(const std::string& name);  // with its runs
  // Jobs not paused whose next run is due at `now_ms`.
  Result<std::vector<Job>> DueJobs(int64_t now_ms);
  // The earliest next run of a job not paused; nullopt when none.
  Result<std::optional<int64_t>> EarliestNextRun();

  // Renews the lease when `node` holds it, takes it when it is free or expired. Returns the
  // fencing token when `node` is the leader after the call, nullopt when another process is.
  Result<std::optional<int64_t>> AcquireLease(const std::string& node, int64_t now_ms, int64_t ttl_ms);
  // Lets the lease go at once (a clean shutdown), so another process takes over without waiting.
  Status ReleaseLease(const std::string& node);

  // Under the lease (node, fence): records `runs` for job `name`, whose next run must still be
  // `expected_next_ms`, and moves its next run to `new_next_ms`. Fills in the runs' ids.
  // Conflict when the lease or the job changed meanwhile: nothing is written then.
  Status Claim(const std::string& node, int64_t fence, const std::string& name, int64_t expected_next_ms,
               int64_t new_next_ms, std::vector<Run>& runs);

  Result<Run> InsertRun(Run run);  // a manual trigger: queued until the leader starts it
  Result<std::vector<Run>> QueuedRuns();
  // Under the lease: queued -> running. False when it was no longer queued or the lease is lost.
  Result<bool> StartQueued(const std::string& node, int64_t fence, Run& run);
  Status FinishRun(const Run& run);  // status, attempts, finished, output, error
  Status UpdateAttempts(int64_t run_id, int64_t attempts);
  // Runs left `running` by processes other than `node` (they died): failed.
  Status FailAbandoned(const std::string& node, int64_t now_ms);
  // Keeps the newest `keep` finished runs of a job.
  Status PruneRuns(const std::string& job, int64_t keep);

  Result<std::vector<Run>> ListRuns(const std::string& job, int64_t offset, int64_t limit);
  Result<Run> GetRun(const std::string& job, int64_t id);

 private:
  storage::Db& db_;
};

}  // namespace aimass::scheduler
