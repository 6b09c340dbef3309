// Scheduler: cron jobs that fire on time, once. It keeps jobs and their run history in the
// metadata store and fires what is due from a background loop, in the processes that hold the
// leader lease (see store.hpp): several `aimass` processes sharing one store fire each
// scheduled time once.
//
// What happens to a due time is decided when it is claimed: after downtime, the times missed
// are collected; those later than starting_deadline_seconds and all but the newest
// max_catchup are recorded as one `missed` run; each remaining one is started, or skipped
// (Forbid, a run still going), or replaces the runs still going (Replace). A run is one
// attempt plus `retries` more with doubling backoff, each bounded by the timeout.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/clock.hpp"
#include "scheduler/job.hpp"
#include "scheduler/store.hpp"
#include "scheduler/target_runner.hpp"

namespace aimass::events {
class EventBus;
}
namespace prometheus {
class Registry;
}

namespace aimass::scheduler {

struct SchedulerOptions {
  std::string node;              // this process's name in the lease and in runs; empty: random
  int64_t lease_ttl_ms = 10000;  // how long a silent leader keeps the lease
  int64_t max_sleep_ms = 1000;   // the loop looks at the lease and queued runs at least this often
  // aimass_scheduler_runs_total{job,status}, aimass_scheduler_run_duration_seconds{job},
  // aimass_scheduler_leader; null: none.
  std::shared_ptr<prometheus::Registry> metrics;
};

class Scheduler {
 public:
  Scheduler(storage::Db& db, std::unique_ptr<TargetRunner> runner, const Clock& clock, SchedulerOptions options,
            events::EventBus* events = nullptr);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  static std::vector<storage::Migration> Migrations() { return SchedulerStore::Migrations(); }

  Result<Job> Create(const JobSpec& spec, const std::string& owner, bool paused);
  // Replaces a job's spec (its paused state and history stay); the next run is computed anew.
  Result<Job> Replace(const JobSpec& spec, const std::string& owner);
  Result<Job> Get(const std::string& name);
  Result<std::vector<Job>> List();
  // Deletes a job with its history; runs still going are cancelled.
  Status Delete(const std::string& name);
  // A paused job fires nothing; on resume it continues from the next time after now (the
  // times that passed while paused are not caught up).
  Result<Job> Pause(const std::string& name);
  Result<Job> Resume(const std::string& name);
  // Queues a run now, outside the schedule; the leader starts it within a loop pass.
  Result<Run> Trigger(const std::string& name);
  Result<std::vector<Run>> Runs(const std::string& name, int64_t offset, int64_t limit);
  Result<Run> GetRun(const std::string& name, int64_t id);

  // Starts the background loop on the system's time.
  void Start();
  // Stops the loop, cancels the runs still going (recorded as cancelled) and lets the lease go.
  void Stop();

  // One pass at the clock's now: keep or take the lease; as leader, claim and start what is
  // due and the queued manual runs. Returns whether this process is the leader. The loop calls
  // it; tests with a ManualClock call it themselves.
  bool Tick();
  // Blocks until no run started by this process is going.
  void WaitIdle();
  const std::string& node() const { return options_.node; }

 private:
  struct Execution;
  struct Metrics;

  void Loop();
  // `fence`: the lease token this pass holds; every claim is checked against it.
  void HandleDue(const Job& job, int64_t now, int64_t fence);
  void StartQueued(int64_t now, int64_t fence);
  // Whether a run of `job` may start now under its concurrency policy; fills `replaced` with
  // the runs a Replace policy must cancel.
  bool MayStart(const Job& job, std::vector<std::shared_ptr<Execution>>* replaced);
  void Launch(const Job& job, Run run);
  void Execute(Job job, Run run, std::shared_ptr<Execution> exec);
  void CancelRuns(const std::string& job, const std::string& reason);
  void ReapFinished();
  void Publish(const char* topic, const Run& run);
  void Finished(const Run& run);  // the event and the metrics of a run that ended
  Result<int64_t> NextAfter(const JobSpec& spec, int64_t after_ms);
  void Wake();

  SchedulerStore store_;
  std::unique_ptr<TargetRunner> runner_;
  const Clock& clock_;
  SchedulerOptions options_;
  events::EventBus* events_;
  std::unique_ptr<Metrics> metrics_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread loop_;
  bool leader_ = false;
  int64_t fence_ = 0;
  std::map<std::string, std::vector<std::shared_ptr<Execution>>> running_;  // by job
};

}  // namespace aimass::scheduler
