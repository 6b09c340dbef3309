// Pipelines: the pipeline module's service. A pipeline is a spec of steps (spec.hpp); a run of
// it is driven by one orchestrator thread per process that serves the module: a step is
// started once the steps it needs have succeeded (or been skipped by their `when`), as a job
// on the cluster (a command step runs its command, a built-in step `aimass step <uses>`), or
// served from the cache when a step with the same cache key (what it uses, its rendered
// inputs, command and env, and the code's version) succeeded before, saying from which run. A
// failed attempt is retried after a back-off; a failed run can be resumed, reusing every
// step that succeeded. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/principal.hpp"
#include "common/status.hpp"
#include "pipeline/spec.hpp"
#include "pipeline/store.hpp"
#include "storage/db.hpp"

namespace aimass::auth {
class AuthService;
}
namespace aimass::cluster {
class Cluster;
}
namespace aimass::events {
class EventBus;
}
namespace aimass::scheduler {
class Scheduler;
}

namespace aimass::pipeline {

struct PipelinesOptions {
  events::EventBus* bus = nullptr;
  std::function<std::string()> platform_url;  // what steps call back
  std::string aimass_binary;                  // run by built-in steps: `<binary> step <uses>`
  bool run_orchestrator = true;               // this process serves the module
  int64_t tick_ms = 1000;                     // the orchestrator's pace when nothing wakes it
};

struct RunView {
  PipelineRun run;
  std::vector<StepRun> steps;  // in the spec's order, foreach items by index
};

class Pipelines {
 public:
  Pipelines(storage::Db& db, cluster::Cluster& cluster, auth::AuthService& auth, scheduler::Scheduler& scheduler,
            PipelinesOptions options);
  ~Pipelines();
  static std::vector<storage::Migration> Migrations() { return PipelineStore::Migrations(); }

  void Start();
  void Stop();

  // A spec as JSON or YAML text. The caller must hold jobs:unsandboxed and jobs:network for
  // command steps that ask for them; a `schedule` becomes a cron job of the scheduler.
  Result<Pipeline> Create(std::string_view spec, const Principal& who);
  Result<Pipeline> Update(const std::string& name, std::string_view spec, const Principal& who);
  Result<Pipeline> Get(const std::string& name);
  Result<std::vector<Pipeline>> List(int64_t limit, int64_t offset);
  Status Delete(const std::string& name);

  // params: overrides of the spec's defaults (an unknown one is bad_request).
  Result<RunView> StartRun(const std::string& name, const nlohmann::json& params, const std::string& trigger,
                           const Principal& who);
  Result<RunView> GetRun(int64_t id);
  Result<std::vector<PipelineRun>> Runs(const std::string& pipeline, int64_t limit, int64_t offset);
  Result<RunView> Cancel(int64_t id);
  // A new run of a failed or cancelled one: its succeeded steps are reused (cached, from it).
  Result<RunView> Resume(int64_t id, const Principal& who);
  // The output of a step's last attempt (its job's log), at most the last `max_bytes`.
  Result<std::string> StepLog(int64_t id, const std::string& step, uint64_t max_bytes);
  // Why a failed or cancelled run ended, for a module that started it: the failed step, its
  // reason and the last "error: …" line of its log.
  std::string FailureOf(const RunView& run);

  void Wake();
  // Advances every active run once (the orchestrator's tick; tests call it directly).
  Status AdvanceAll();

 private:
  Status Advance(PipelineRun run);
  Status CheckPermissions(const PipelineSpec& spec, const Principal& who);
  Status Schedule(const PipelineSpec& spec, const std::string& owner, bool existed);
  // The last `max_bytes` of a job's log (empty when there is none).
  std::string LogTail(int64_t job, uint64_t max_bytes);
  Result<int64_t> Submit(const PipelineRun& run, const StepSpec& s, StepRun& row, const nlohmann::json& inputs);
  // A tune step whose trials have all ended: its next round of trials (added to `rows`), or its
  // summary row (the best trial's outputs, every trial's score) when the search is over.
  Status AdvanceTune(const PipelineRun& run, const StepSpec& s, std::vector<StepRun*> mine, std::vector<StepRun>& rows,
                     int64_t now);
  void Publish(const std::string& topic, const PipelineRun& run);
  void Loop();

  PipelineStore store_;
  cluster::Cluster& cluster_;
  auth::AuthService& auth_;
  scheduler::Scheduler& scheduler_;
  PipelinesOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  uint64_t subscription_ = 0;
};

// A step's outputs from its log: lines `::aimass-output NAME=VALUE` (VALUE read as JSON when
// it is JSON, else as text), the last one of a name winning.
nlohmann::json ParseOutputs(std::string_view log);

}  // namespace aimass::pipeline
