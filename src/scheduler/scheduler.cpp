#include "scheduler/scheduler.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <deque>

#include "common/failpoint.hpp"
#include "common/random.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "events/bus.hpp"
#include "scheduler/schedule.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace aimass::scheduler {

namespace {
// A due time found more than this many times over is no longer counted one by one: the job
// jumps to the first time after now (an every-second job after a year of downtime).
constexpr int kMaxDueScan = 100000;
}  // namespace

struct Scheduler::Metrics {
  prometheus::Family<prometheus::Counter>* runs = nullptr;
  prometheus::Family<prometheus::Histogram>* duration = nullptr;
  prometheus::Gauge* leader = nullptr;
};

struct Scheduler::Execution {
  int64_t run_id = 0;
  CancelToken cancel;
  std::string cancel_reason;  // under Scheduler::mu_
  std::atomic<bool> done{false};
  std::thread thread;
};

Scheduler::Scheduler(storage::Db& db, std::unique_ptr<TargetRunner> runner, const Clock& clock, SchedulerOptions options,
                     events::EventBus* events)
    : store_(db), runner_(std::move(runner)), clock_(clock), options_(std::move(options)), events_(events) {
  if (options_.metrics) {
    auto& r = *options_.metrics;
    metrics_ = std::make_unique<Metrics>();
    metrics_->runs = &prometheus::BuildCounter()
                          .Name("aimass_scheduler_runs_total")
                          .Help("Finished runs by job and status (succeeded, failed, timed_out, cancelled, skipped, missed)")
                          .Register(r);
    metrics_->duration = &prometheus::BuildHistogram()
                              .Name("aimass_scheduler_run_duration_seconds")
                              .Help("From start to finish of runs that started, all attempts together")
                              .Register(r);
    metrics_->leader = &prometheus::BuildGauge()
                            .Name("aimass_scheduler_leader")
                            .Help("1 while this process holds the scheduler's leader lease")
                            .Register(r)
                            .Add({});
  }
  if (options_.node.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    options_.node = std::string(host) + "-" + std::to_string(::getpid()) + "-" + RandomHex(4);
  }
}

Scheduler::~Scheduler() { Stop(); }

Result<int64_t> Scheduler::NextAfter(const JobSpec& spec, int64_t after_ms) {
  AIMASS_ASSIGN_OR_RETURN(Schedule s, Schedule::Parse(spec.schedule, spec.time_zone));
  return s.NextAfter(after_ms).value_or(0);
}

void Scheduler::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

// -- jobs ------------------------------------------------------------------------------------------

Result<Job> Scheduler::Create(const JobSpec& spec, const std::string& owner, bool paused) {
  Job job;
  job.spec = spec;
  job.owner = owner;
  job.paused = paused;
  job.created_ms = job.updated_ms = clock_.NowMs();
  AIMASS_ASSIGN_OR_RETURN(job.next_run_ms, NextAfter(spec, job.created_ms));
  AIMASS_RETURN_IF_ERROR(store_.InsertJob(job));
  Wake();
  return job;
}

Result<Job> Scheduler::Replace(const JobSpec& spec, const std::string& owner) {
  AIMASS_ASSIGN_OR_RETURN(Job job, store_.GetJob(spec.name));
  job.spec = spec;
  job.owner = owner;
  job.updated_ms = clock_.NowMs();
  AIMASS_ASSIGN_OR_RETURN(job.next_run_ms, NextAfter(spec, job.updated_ms));
  AIMASS_RETURN_IF_ERROR(store_.UpdateJob(job));
  Wake();
  return job;
}

Result<Job> Scheduler::Get(const std::string& name) { return store_.GetJob(name); }
Result<std::vector<Job>> Scheduler::List() { return store_.ListJobs(); }

Status Scheduler::Delete(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(store_.DeleteJob(name));
  CancelRuns(name, "the job was deleted");
  return Status::Ok();
}

Result<Job> Scheduler::Pause(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Job job, store_.GetJob(name));
  if (job.paused) return job;
  job.paused = true;
  job.updated_ms = clock_.NowMs();
  AIMASS_RETURN_IF_ERROR(store_.UpdateJob(job));
  return job;
}

Result<Job> Scheduler::Resume(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Job job, store_.GetJob(name));
  if (!job.paused) return job;
  job.paused = false;
  job.updated_ms = clock_.NowMs();
  AIMASS_ASSIGN_OR_RETURN(job.next_run_ms, NextAfter(job.spec, job.updated_ms));
  AIMASS_RETURN_IF_ERROR(store_.UpdateJob(job));
  Wake();
  return job;
}

Result<Run> Scheduler::Trigger(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(store_.GetJob(name).status());
  Run run;
  run.job = name;
  run.scheduled_ms = clock_.NowMs();
  run.trigger = "manual";
  run.status = "queued";
  AIMASS_ASSIGN_OR_RETURN(run, store_.InsertRun(std::move(run)));
  Wake();
  return run;
}

Result<std::vector<Run>> Scheduler::Runs(const std::string& name, int64_t offset, int64_t limit) {
  AIMASS_RETURN_IF_ERROR(store_.GetJob(name).status());
  return store_.ListRuns(name, offset, limit);
}

Result<Run> Scheduler::GetRun(const std::string& name, int64_t id) { return store_.GetRun(name, id); }

// -- the loop ----------------------------------------------------------------------------------------

void Scheduler::Start() {
  std::lock_guard lock(mu_);
  if (loop_.joinable()) return;
  stopping_ = false;
  loop_ = NamedThread("scheduler", [this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (loop_.joinable()) loop_.join();
  std::vector<std::string> jobs;
  {
    std::lock_guard lock(mu_);
    for (const auto& [job, execs] : running_) jobs.push_back(job);
  }
  for (const auto& j : jobs) CancelRuns(j, "the server stopped");
  WaitIdle();
  bool was_leader = false;
  {
    std::lock_guard lock(mu_);
    was_leader = leader_;
    leader_ = false;
  }
  if (was_leader) (void)store_.ReleaseLease(options_.node);
  if (metrics_) metrics_->leader->Set(0);
}

void Scheduler::Loop() {
  while (true) {
    bool leader = Tick();
    int64_t sleep_ms = options_.max_sleep_ms;
    if (leader) {
      auto next = store_.EarliestNextRun();
      if (next.ok() && next->has_value()) {
        // At least a few ms: a job that stays due (its claim keeps failing) must not spin.
        sleep_ms = std::clamp<int64_t>(**next - clock_.NowMs(), 5, options_.max_sleep_ms);
      }
    }
    std::unique_lock lock(mu_);
    if (stopping_) return;
    wake_.wait_for(lock, std::chrono::milliseconds(sleep_ms), [&] { return stopping_ || woken_; });
    woken_ = false;
    if (stopping_) return;
  }
}

bool Scheduler::Tick() {
  ReapFinished();
  int64_t now = clock_.NowMs();
  auto token = store_.AcquireLease(options_.node, now, options_.lease_ttl_ms);
  if (!token.ok()) {
    spdlog::warn("scheduler: cannot reach the lease: {}", token.status().message());
    return false;
  }
  bool took_over = false;
  {
    std::lock_guard lock(mu_);
    if (!token->has_value()) {
      if (leader_) spdlog::warn("scheduler: {} lost the leader lease", options_.node);
      leader_ = false;
      if (metrics_) metrics_->leader->Set(0);
      return false;
    }
    if (metrics_) metrics_->leader->Set(1);
    took_over = !leader_ || fence_ != **token;
    leader_ = true;
    fence_ = **token;
  }
  if (took_over) {
    spdlog::info("scheduler: {} is the leader (fence {})", options_.node, **token);
    // Whatever another process left running cannot finish any more: it died or lost the lease.
    if (Status st = store_.FailAbandoned(options_.node, now); !st.ok()) spdlog::warn("scheduler: {}", st.message());
  }
  auto due = store_.DueJobs(now);
  if (!due.ok()) {
    spdlog::warn("scheduler: cannot read due jobs: {}", due.status().message());
    return true;
  }
  for (const Job& job : *due) HandleDue(job, now, **token);
  StartQueued(now, **token);
  return true;
}

void Scheduler::HandleDue(const Job& job, int64_t now, int64_t fence) {
  const JobSpec& spec = job.spec;
  auto schedule = Schedule::Parse(spec.schedule, spec.time_zone);
  if (!schedule.ok()) {
    // (A time zone the system's tzdata no longer has.) Recorded once, and the job stops
    // firing until it is replaced, instead of coming due again on every pass.
    spdlog::error("scheduler: job {} has a schedule that no longer parses: {}", spec.name, schedule.status().message());
    std::vector<Run> failed(1);
    failed[0].job = spec.name;
    failed[0].scheduled_ms = job.next_run_ms;
    failed[0].trigger = "schedule";
    failed[0].status = "failed";
    failed[0].started_ms = failed[0].finished_ms = now;
    failed[0].node = options_.node;
    failed[0].error = "the schedule no longer parses: " + schedule.status().message();
    failed[0].fence = fence;
    (void)store_.Claim(options_.node, fence, spec.name, job.next_run_ms, 0, failed);
    return;
  }
  // Every due time up to now: the newest max_catchup of those still within the starting
  // deadline start; the rest are missed.
  std::deque<int64_t> start;
  int64_t first_due = 0, last_missed = 0, due_count = 0;
  int64_t t = job.next_run_ms;
  int scanned = 0;
  while (t > 0 && t <= now) {
    if (first_due == 0) first_due = t;
    ++due_count;
    bool in_time = spec.starting_deadline_s == 0 || now - t <= spec.starting_deadline_s * 1000;
    if (in_time) start.push_back(t);
    if (!in_time || static_cast<int64_t>(start.size()) > spec.max_catchup) {
      last_missed = in_time ? start.front() : t;
      if (static_cast<int64_t>(start.size()) > spec.max_catchup) start.pop_front();
    }
    if (++scanned >= kMaxDueScan) {
      last_missed = t;
      start.clear();
      t = schedule->NextAfter(now).value_or(0);
      due_count = -1;  // uncounted
      break;
    }
    t = schedule->NextAfter(t).value_or(0);
  }
  const int64_t next = t;

  std::vector<Run> runs;
  int64_t missed = due_count < 0 ? -1 : due_count - static_cast<int64_t>(start.size());
  if (missed != 0) {
    Run m;
    m.job = spec.name;
    m.scheduled_ms = first_due;
    m.trigger = "schedule";
    m.status = "missed";
    m.started_ms = m.finished_ms = now;
    m.node = options_.node;
    m.error = (missed < 0 ? std::string("more than ") + std::to_string(kMaxDueScan) : std::to_string(missed)) +
              " scheduled run(s) from " + Rfc3339Ms(first_due) + " to " + Rfc3339Ms(last_missed) +
              " were not started: later than starting_deadline_seconds or beyond max_catchup";
    runs.push_back(std::move(m));
  }
  std::vector<std::shared_ptr<Execution>> replaced;
  std::vector<size_t> to_launch;
  bool started_one = false;
  for (int64_t when : start) {
    Run r;
    r.job = spec.name;
    r.scheduled_ms = when;
    r.trigger = "schedule";
    r.node = options_.node;
    r.started_ms = now;
    // Runs started in this pass count as going for the ones after them.
    bool may = started_one ? spec.concurrency_policy != ConcurrencyPolicy::kForbid : MayStart(job, &replaced);
    if (may) {
      r.status = "running";
      to_launch.push_back(runs.size());
      started_one = true;
    } else {
      r.status = "skipped";
      r.finished_ms = now;
      r.error = "the previous run was still running (concurrency_policy Forbid)";
    }
    runs.push_back(std::move(r));
  }
  if (spec.concurrency_policy == ConcurrencyPolicy::kReplace && to_launch.size() > 1) {
    // Of several catch-up runs under Replace, only the newest would survive: start just that one.
    for (size_t i = 0; i + 1 < to_launch.size(); ++i) {
      Run& r = runs[to_launch[i]];
      r.status = "cancelled";
      r.finished_ms = now;
      r.error = "replaced by the run scheduled at " + Rfc3339Ms(runs[to_launch.back()].scheduled_ms);
    }
    to_launch.erase(to_launch.begin(), to_launch.end() - 1);
  }
  for (auto& r : runs) r.fence = fence;
  Status claimed = store_.Claim(options_.node, fence, spec.name, job.next_run_ms, next, runs);
  if (!claimed.ok()) {
    spdlog::warn("scheduler: job {} not fired: {}", spec.name, claimed.message());
    return;
  }
  // Claimed first, fired after: a crash here leaves runs `running` that the next leader marks
  // failed, and nothing is fired twice (at most once per scheduled time).
  (void)AIMASS_FAILPOINT("scheduler.after_claim");
  if (!replaced.empty()) {
    std::lock_guard lock(mu_);
    for (auto& e : replaced) {
      e->cancel_reason = "replaced by the run scheduled at " + Rfc3339Ms(runs[to_launch.front()].scheduled_ms);
      e->cancel.Cancel();
    }
  }
  for (const Run& r : runs) {
    if (r.status != "running") Finished(r);
  }
  for (size_t i : to_launch) Launch(job, runs[i]);
}

void Scheduler::StartQueued(int64_t now, int64_t fence) {
  auto queued = store_.QueuedRuns();
  if (!queued.ok() || queued->empty()) return;
  for (Run& run : *queued) {
    auto job = store_.GetJob(run.job);
    if (!job.ok()) continue;  // deleted meanwhile: its runs went with it
    std::vector<std::shared_ptr<Execution>> replaced;
    run.started_ms = now;
    auto started = store_.StartQueued(options_.node, fence, run);
    if (!started.ok() || !*started) continue;
    if (!MayStart(*job, &replaced)) {
      run.status = "skipped";
      run.finished_ms = now;
      run.error = "the previous run was still running (concurrency_policy Forbid)";
      (void)store_.FinishRun(run);
      Finished(run);
      continue;
    }
    {
      std::lock_guard lock(mu_);
      for (auto& e : replaced) {
        e->cancel_reason = "replaced by a manual run";
        e->cancel.Cancel();
      }
    }
    Launch(*job, run);
  }
}

bool Scheduler::MayStart(const Job& job, std::vector<std::shared_ptr<Execution>>* replaced) {
  std::lock_guard lock(mu_);
  auto it = running_.find(job.spec.name);
  bool going = false;
  if (it != running_.end()) {
    for (const auto& e : it->second) going = going || !e->done;
  }
  if (!going) return true;
  switch (job.spec.concurrency_policy) {
    case ConcurrencyPolicy::kAllow: return true;
    case ConcurrencyPolicy::kForbid: return false;
    case ConcurrencyPolicy::kReplace:
      for (const auto& e : it->second) {
        if (!e->done) replaced->push_back(e);
      }
      return true;
  }
  return true;
}

// -- runs ----------------------------------------------------------------------------------------------

void Scheduler::Launch(const Job& job, Run run) {
  auto exec = std::make_shared<Execution>();
  exec->run_id = run.id;
  Publish("scheduler.run.started", run);
  std::lock_guard lock(mu_);
  running_[job.spec.name].push_back(exec);
  exec->thread = std::thread([this, job, run, exec]() mutable { Execute(std::move(job), std::move(run), exec); });
}

void Scheduler::Execute(Job job, Run run, std::shared_ptr<Execution> exec) {
  const JobSpec& spec = job.spec;
  Outcome last;
  for (int64_t attempt = 1; attempt <= spec.retries + 1; ++attempt) {
    run.attempts = attempt;
    (void)store_.UpdateAttempts(run.id, attempt);
    last = runner_->Fire(job, run, std::chrono::seconds(spec.timeout_s), exec->cancel);
    if (last.status.ok() || last.cancelled || attempt > spec.retries) break;
    int64_t backoff = spec.retry_backoff_ms << std::min<int64_t>(attempt - 1, 20);
    if (exec->cancel.WaitFor(std::chrono::milliseconds(std::min<int64_t>(backoff, 3600 * 1000)))) {
      last = {Status::Unavailable("cancelled"), last.output, false, true};
      break;
    }
  }
  (void)AIMASS_FAILPOINT("scheduler.after_fire");
  run.output = last.output;
  if (last.status.ok()) {
    run.status = "succeeded";
  } else if (last.cancelled) {
    run.status = "cancelled";
    std::lock_guard lock(mu_);
    run.error = exec->cancel_reason.empty() ? "cancelled" : exec->cancel_reason;
  } else {
    run.status = last.timed_out ? "timed_out" : "failed";
    run.error = last.status.message();
  }
  run.finished_ms = clock_.NowMs();
  if (Status st = store_.FinishRun(run); !st.ok()) spdlog::error("scheduler: cannot record run {}: {}", run.id, st.message());
  (void)store_.PruneRuns(spec.name, spec.history_limit);
  Finished(run);
  exec->done = true;
  Wake();
}

void Scheduler::CancelRuns(const std::string& job, const std::string& reason) {
  std::lock_guard lock(mu_);
  auto it = running_.find(job);
  if (it == running_.end()) return;
  for (auto& e : it->second) {
    if (e->done) continue;
    e->cancel_reason = reason;
    e->cancel.Cancel();
  }
}

void Scheduler::ReapFinished() {
  std::vector<std::shared_ptr<Execution>> finished;
  {
    std::lock_guard lock(mu_);
    for (auto it = running_.begin(); it != running_.end();) {
      auto& v = it->second;
      for (auto e = v.begin(); e != v.end();) {
        if ((*e)->done) {
          finished.push_back(*e);
          e = v.erase(e);
        } else {
          ++e;
        }
      }
      it = v.empty() ? running_.erase(it) : std::next(it);
    }
  }
  for (auto& e : finished) {
    if (e->thread.joinable()) e->thread.join();
  }
}

void Scheduler::WaitIdle() {
  // Takes the runs out of the table before joining them, so that a thread is joined once even
  // when the loop reaps at the same time.
  while (true) {
    std::vector<std::shared_ptr<Execution>> all;
    {
      std::lock_guard lock(mu_);
      for (auto& [job, v] : running_) all.insert(all.end(), v.begin(), v.end());
      running_.clear();
    }
    if (all.empty()) return;
    for (auto& e : all) {
      if (e->thread.joinable()) e->thread.join();
    }
  }
}

void Scheduler::Finished(const Run& run) {
  Publish("scheduler.run.finished", run);
  if (!metrics_) return;
  metrics_->runs->Add({{"job", run.job}, {"status", run.status}}).Increment();
  if (run.started_ms > 0 && run.finished_ms >= run.started_ms && run.status != "skipped" && run.status != "missed") {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600};
    metrics_->duration->Add({{"job", run.job}}, kBuckets).Observe((run.finished_ms - run.started_ms) / 1000.0);
  }
}

void Scheduler::Publish(const char* topic, const Run& run) {
  if (events_ == nullptr) return;
  nlohmann::json j = ToJson(run);
  j.erase("output");
  events_->Publish(topic, j.dump());
}

}  // namespace aimass::scheduler
