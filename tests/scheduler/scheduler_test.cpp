// The scheduler on a driven clock: a daylight-saving night fires each wall-clock time once,
// overlap policies, bounded catch-up after downtime, retries, the leader lease with its fencing
// token, and the shell target on real processes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>

#include "test_db.hpp"
#include "test_support.hpp"
#include "scheduler/scheduler.hpp"
#include "storage/db.hpp"

namespace fs = std::filesystem;
using namespace aimass;
using namespace aimass::scheduler;

namespace {

// 2026-10-25 is the fall-back night in Europe/Berlin (03:00 CEST -> 02:00 CET, at 01:00Z);
// 2026-03-29 the spring-forward one (02:00 CET -> 03:00 CEST, at 01:00Z).
constexpr int64_t kFallBackEveUtc = 1792879200000;     // 2026-10-24T22:00:00Z = 00:00 CEST
constexpr int64_t kFallBack0230First = 1792888200000;  // 2026-10-25T00:30:00Z = 02:30 CEST
constexpr int64_t kSpringEveUtc = 1774738800000;       // 2026-03-28T23:00:00Z = 00:00 CET
constexpr int64_t kSpringTransition = 1774746000000;   // 2026-03-29T01:00:00Z = 03:00 CEST

using aimass::testing::TempDir;

// A target that records what fired and can be told to fail or to hold until released.
class RecordingRunner : public TargetRunner {
 public:
  struct Shared {
    std::mutex mu;
    std::vector<std::pair<std::string, int64_t>> fired;  // job, scheduled_ms
    int fail_first = 0;                                  // attempts that fail before one succeeds
    std::atomic<bool> hold{false};
  };
  explicit RecordingRunner(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
  Outcome Fire(const Job& job, const scheduler::Run& run, std::chrono::milliseconds, CancelToken& cancel) override {
    {
      std::lock_guard lock(s_->mu);
      s_->fired.emplace_back(job.spec.name, run.scheduled_ms);
      if (s_->fail_first > 0) {
        --s_->fail_first;
        return {Status::Unavailable("planned failure"), "", false, false};
      }
    }
    while (s_->hold) {
      if (cancel.WaitFor(std::chrono::milliseconds(5))) return {Status::Unavailable("cancelled"), "", false, true};
    }
    return {Status::Ok(), "ok", false, false};
  }

 private:
  std::shared_ptr<Shared> s_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = aimass::testing::OpenTestDb(dir_.file("meta.db"));
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Migrate(Scheduler::Migrations()).ok());
  }

  std::unique_ptr<Scheduler> Make(const std::string& node, std::unique_ptr<TargetRunner> runner = nullptr) {
    SchedulerOptions o;
    o.node = node;
    o.lease_ttl_ms = 10000;
    if (!runner) runner = std::make_unique<RecordingRunner>(shared_);
    return std::make_unique<Scheduler>(*db_, std::move(runner), clock_, o);
  }

  static JobSpec Spec(const std::string& name, const std::string& cron, const std::string& tz = "UTC") {
    JobSpec s;
    s.name = name;
    s.schedule = cron;
    s.time_zone = tz;
    s.target.type = Target::Type::kMq;
    s.target.topic = "t";
    return s;
  }

  // Ticks every `step_ms` from now up to `until_ms`.
  void Drive(Scheduler& s, int64_t until_ms, int64_t step_ms) {
    while (clock_.NowMs() < until_ms) {
      clock_.Advance(step_ms);
      s.Tick();
    }
    s.WaitIdle();
  }

  std::vector<scheduler::Run> RunsOf(Scheduler& s, const std::string& job) {
    auto runs = s.Runs(job, 0, 1000);
    EXPECT_TRUE(runs.ok());
    std::vector<scheduler::Run> out = runs.ok() ? *runs : std::vector<scheduler::Run>{};
    std::reverse(out.begin(), out.end());  // oldest first
    return out;
  }

  std::vector<int64_t> Fired() {
    std::lock_guard lock(shared_->mu);
    std::vector<int64_t> t;
    for (const auto& f : shared_->fired) t.push_back(f.second);
    return t;
  }

  TempDir dir_;
  std::unique_ptr<storage::Db> db_;
  ManualClock clock_;
  std::shared_ptr<RecordingRunner::Shared> shared_ = std::make_shared<RecordingRunner::Shared>();
};

TEST_F(SchedulerTest, BerlinFallBackNightFiresTheRepeatedTimeOnce) {
  clock_.Set(kFallBackEveUtc);
  auto s = Make("a");
  ASSERT_TRUE(s->Create(Spec("nightly", "30 2 * * *", "Europe/Berlin"), "admin", false).ok());
  ASSERT_TRUE(s->Create(Spec("hourly", "30 * * * *", "Europe/Berlin"), "admin", false).ok());
  Drive(*s, kFallBackEveUtc + 6 * 3600 * 1000, 60 * 1000);  // six hours, to 05:00 CET, minute by minute

  std::vector<int64_t> nightly;
  for (const scheduler::Run& r : RunsOf(*s, "nightly")) nightly.push_back(r.scheduled_ms);
  EXPECT_EQ(nightly, std::vector<int64_t>{kFallBack0230First});
  // The hourly job: 00:30, 01:30, 02:30 (once), 03:30, 04:30 wall clock: five runs in six hours.
  auto hourly = RunsOf(*s, "hourly");
  ASSERT_EQ(hourly.size(), 5u);
  for (const scheduler::Run& r : hourly) EXPECT_EQ(r.status, "succeeded");
  EXPECT_EQ(hourly[2].scheduled_ms, kFallBack0230First);
  EXPECT_EQ(hourly[3].scheduled_ms - hourly[2].scheduled_ms, 2 * 3600 * 1000);  // the second 02:30 never fires
}

TEST_F(SchedulerTest, BerlinSpringForwardFiresTheSkippedTimeAtTheTransition) {
  clock_.Set(kSpringEveUtc);
  auto s = Make("a");
  ASSERT_TRUE(s->Create(Spec("nightly", "30 2 * * *", "Europe/Berlin"), "admin", false).ok());
  Drive(*s, kSpringEveUtc + 26 * 3600 * 1000, 60 * 1000);
  auto runs = RunsOf(*s, "nightly");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].scheduled_ms, kSpringTransition);
  EXPECT_EQ(runs[1].scheduled_ms, 1774830600000);  // 2026-03-30 02:30 CEST
}

TEST_F(SchedulerTest, ForbidSkipsARunWhileThePreviousOneIsGoing) {
  clock_.Set(1'800'000'000'000);
  auto s = Make("a");
  JobSpec spec = Spec("slow", "* * * * * *");
  spec.concurrency_policy = ConcurrencyPolicy::kForbid;
  ASSERT_TRUE(s->Create(spec, "admin", false).ok());
  shared_->hold = true;
  clock_.Advance(1000);
  s->Tick();  // starts and holds
  clock_.Advance(1000);
  s->Tick();  // overlaps: skipped
  shared_->hold = false;
  s->WaitIdle();
  auto runs = RunsOf(*s, "slow");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].status, "succeeded");
  EXPECT_EQ(runs[1].status, "skipped");
  EXPECT_NE(runs[1].error.find("Forbid"), std::string::npos);
  EXPECT_EQ(Fired().size(), 1u);
}

TEST_F(SchedulerTest, ReplaceCancelsTheRunGoingAndStartsTheNewOne) {
  clock_.Set(1'800'000'000'000);
  auto s = Make("a");
  JobSpec spec = Spec("slow", "* * * * * *");
  spec.concurrency_policy = ConcurrencyPolicy::kReplace;
  ASSERT_TRUE(s->Create(spec, "admin", false).ok());
  shared_->hold = true;
  clock_.Advance(1000);
  s->Tick();
  clock_.Advance(1000);
  s->Tick();
  // Let the first notice its cancellation before the second is released.
  for (int i = 0; i < 200 && RunsOf(*s, "slow")[0].status == "running"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  shared_->hold = false;
  s->WaitIdle();
  auto runs = RunsOf(*s, "slow");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].status, "cancelled");
  EXPECT_NE(runs[0].error.find("replaced"), std::string::npos);
  EXPECT_EQ(runs[1].status, "succeeded");
}

TEST_F(SchedulerTest, AllowRunsOverlappingRuns) {
  clock_.Set(1'800'000'000'000);
  auto s = Make("a");
  ASSERT_TRUE(s->Create(Spec("slow", "* * * * * *"), "admin", false).ok());
  shared_->hold = true;
  clock_.Advance(1000);
  s->Tick();
  clock_.Advance(1000);
  s->Tick();
  shared_->hold = false;
  s->WaitIdle();
  auto runs = RunsOf(*s, "slow");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].status, "succeeded");
  EXPECT_EQ(runs[1].status, "succeeded");
}

TEST_F(SchedulerTest, AfterDowntimeOnlyMaxCatchupRunsStartAndTheRestAreRecordedMissed) {
  const int64_t t0 = 1'800'000'000'000 - 1'800'000'000'000 % 60000;  // on a minute
  clock_.Set(t0);
  auto s = Make("a");
  JobSpec one = Spec("one", "* * * * *");
  JobSpec three = Spec("three", "* * * * *");
  three.max_catchup = 3;
  JobSpec late = Spec("late", "* * * * *");
  late.max_catchup = 100;
  late.starting_deadline_s = 150;
  for (const auto& sp : {one, three, late}) ASSERT_TRUE(s->Create(sp, "admin", false).ok());
  clock_.Advance(10 * 60000 + 30000);  // ten scheduled minutes pass with the process down
  s->Tick();
  s->WaitIdle();

  auto r1 = RunsOf(*s, "one");
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_EQ(r1[0].status, "missed");
  EXPECT_NE(r1[0].error.find("9 scheduled run(s)"), std::string::npos) << r1[0].error;
  EXPECT_EQ(r1[1].status, "succeeded");
  EXPECT_EQ(r1[1].scheduled_ms, t0 + 10 * 60000);  // the newest

  auto r3 = RunsOf(*s, "three");
  ASSERT_EQ(r3.size(), 4u);
  EXPECT_EQ(r3[0].status, "missed");
  EXPECT_NE(r3[0].error.find("7 scheduled run(s)"), std::string::npos) << r3[0].error;
  EXPECT_EQ(r3[3].scheduled_ms, t0 + 10 * 60000);

  // Within 150 s of now (10:30): the 08:00, 09:00 and 10:00 minutes.
  auto rl = RunsOf(*s, "late");
  ASSERT_EQ(rl.size(), 4u);
  EXPECT_EQ(rl[0].status, "missed");
  EXPECT_EQ(rl[1].scheduled_ms, t0 + 8 * 60000);

  // Nothing is due again until the next minute.
  size_t fired = Fired().size();
  s->Tick();
  s->WaitIdle();
  EXPECT_EQ(Fired().size(), fired);
  auto job = s->Get("one");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->next_run_ms, t0 + 11 * 60000);
}

TEST_F(SchedulerTest, FailedAttemptsAreRetriedThenTheRunSucceeds) {
  clock_.Set(1'800'000'000'000);
  auto s = Make("a");
  JobSpec spec = Spec("flaky", "* * * * * *");
  spec.retries = 3;
  spec.retry_backoff_ms = 1;
  ASSERT_TRUE(s->Create(spec, "admin", false).ok());
  shared_->fail_first = 2;
  clock_.Advance(1000);
  s->Tick();
  s->WaitIdle();
  auto runs = RunsOf(*s, "flaky");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "succeeded");
  EXPECT_EQ(runs[0].attempts, 3);

  shared_->fail_first = 10;  // more than the retries
  clock_.Advance(1000);
  s->Tick();
  s->WaitIdle();
  runs = RunsOf(*s, "flaky");
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1].status, "failed");
  EXPECT_EQ(runs[1].attempts, 4);
  EXPECT_EQ(runs[1].error, "planned failure");
}

TEST_F(SchedulerTest, PausedJobsFireNothingAndResumeFromNow) {
  clock_.Set(1'800'000'000'000);
  auto s = Make("a");
  ASSERT_TRUE(s->Create(Spec("p", "* * * * * *"), "admin", false).ok());
  ASSERT_TRUE(s->Pause("p").ok());
  Drive(*s, clock_.NowMs() + 5000, 1000);
  EXPECT_TRUE(Fired().empty());
  auto resumed = s->Resume("p");
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->next_run_ms, clock_.NowMs() + 1000);  // no catch-up of the paused seconds
  Drive(*s, clock_.NowMs() + 2000, 1000);
  EXPECT_EQ(Fired().size(), 2u);
}

TEST_F(SchedulerTest, TwoProcessesFireEachTimeOnceAndTheFollowerTakesOverAnExpiredLease) {
  clock_.Set(1'800'000'000'000);
  auto a = Make("a");
  auto b = Make("b");
  ASSERT_TRUE(a->Create(Spec("every", "* * * * * *"), "admin", false).ok());
  EXPECT_TRUE(a->Tick());
  EXPECT_FALSE(b->Tick());
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1000);
    a->Tick();
    b->Tick();
  }
  a->WaitIdle();
  b->WaitIdle();
  auto runs = RunsOf(*a, "every");
  ASSERT_EQ(runs.size(), 5u);
  for (const scheduler::Run& r : runs) {
    EXPECT_EQ(r.node, "a");
    EXPECT_EQ(r.fence, 1);
  }
  // `a` goes silent; after the lease's ten seconds `b` takes over with the next fencing token
  // and fires what is due once.
  clock_.Advance(11000);
  EXPECT_TRUE(b->Tick());
  b->WaitIdle();
  runs = RunsOf(*b, "every");
  ASSERT_EQ(runs.size(), 7u);  // + the missed record + the newest due second
  EXPECT_EQ(runs.back().node, "b");
  EXPECT_EQ(runs.back().fence, 2);
  // `a` wakes up: the lease is `b`'s, so it fires nothing.
  clock_.Advance(1000);
  EXPECT_FALSE(a->Tick());
  EXPECT_TRUE(b->Tick());
  b->WaitIdle();
  for (const scheduler::Run& r : RunsOf(*b, "every")) EXPECT_TRUE(r.node == "a" || r.fence == 2);
}

TEST_F(SchedulerTest, AStaleFencingTokenCannotClaim) {
  SchedulerStore store(*db_);
  Job job;
  job.spec = Spec("j", "* * * * *");
  job.owner = "admin";
  job.next_run_ms = 60000;
  ASSERT_TRUE(store.InsertJob(job).ok());
  auto first = store.AcquireLease("a", 0, 1000);
  ASSERT_TRUE(first.ok() && first->has_value());
  auto second = store.AcquireLease("b", 5000, 1000);  // a's lease expired at 1000
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ(**second, **first + 1);
  std::vector<scheduler::Run> runs(1);
  runs[0].job = "j";
  runs[0].scheduled_ms = 60000;
  runs[0].trigger = "schedule";
  runs[0].status = "running";
  Status st = store.Claim("a", **first, "j", 60000, 120000, runs);
  EXPECT_EQ(st.code(), Code::kConflict);
  EXPECT_TRUE(store.Claim("b", **second, "j", 60000, 120000, runs).ok());
  // The same scheduled time cannot be claimed twice, whatever the lease says.
  Status again = store.Claim("b", **second, "j", 120000, 180000, runs);
  EXPECT_EQ(again.code(), Code::kConflict);
}

TEST_F(SchedulerTest, ShellTargetsRunInAMinimalEnvironmentAndTimeOutWithTheirChildren) {
  ::setenv("AIMASS_ADMIN_PASSWORD", "must-not-leak", 1);
  TargetRunnerOptions o;
  o.work_dir = dir_.path();
  auto runner = MakeTargetRunner(o);
  Job job;
  job.spec = Spec("sh", "* * * * *");
  job.spec.target.type = Target::Type::kShell;
  scheduler::Run run;
  run.id = 7;
  run.scheduled_ms = kFallBack0230First;
  CancelToken cancel;

  job.spec.target.command = "echo job=$AIMASS_CRON_JOB at=$AIMASS_CRON_SCHEDULED_AT pw=${AIMASS_ADMIN_PASSWORD:-none}; pwd";
  Outcome ok = runner->Fire(job, run, std::chrono::seconds(5), cancel);
  EXPECT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.output, "job=sh at=2026-10-25T00:30:00.000Z pw=none\n" + dir_.path() + "\n");

  job.spec.target.command = "echo oops >&2; exit 3";
  Outcome bad = runner->Fire(job, run, std::chrono::seconds(5), cancel);
  EXPECT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.message().find("exit status 3"), std::string::npos);
  EXPECT_EQ(bad.output, "oops\n");

  // A background child holding the output open is stopped with the command on timeout.
  std::string marker = dir_.file("still-running");
  job.spec.target.command = "(sleep 3; touch " + marker + ") & sleep 30";
  auto start = std::chrono::steady_clock::now();
  Outcome slow = runner->Fire(job, run, std::chrono::seconds(1), cancel);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_FALSE(fs::exists(marker));
  ::unsetenv("AIMASS_ADMIN_PASSWORD");
}

TEST_F(SchedulerTest, BadJobsAreRefused) {
  nlohmann::json j = {{"name", "x"}, {"schedule", "61 * * * *"}, {"target", {{"type", "mq"}, {"topic", "t"}}}};
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j["schedule"] = "* * * * *";
  j["time_zone"] = "Mars/Olympus";
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j["time_zone"] = "UTC";
  j["target"] = {{"type", "http"}, {"path", "http://evil.example/"}};
  EXPECT_NE(ParseJobSpec(j).status().message().find("path"), std::string::npos);
  j["target"] = {{"type", "http"}, {"path", "//evil.example/x"}};
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j["target"] = {{"type", "ftp"}};
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j["target"] = {{"type", "mq"}, {"topic", "../x"}};
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j["target"] = {{"type", "mq"}, {"topic", "t"}};
  j["concurrency_policy"] = "Sometimes";
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j.erase("concurrency_policy");
  j["max_catchup"] = 0;
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j.erase("max_catchup");
  j["surprise"] = 1;
  EXPECT_EQ(ParseJobSpec(j).status().code(), Code::kBadRequest);
  j.erase("surprise");
  EXPECT_TRUE(ParseJobSpec(j).ok());
}

}  // namespace
