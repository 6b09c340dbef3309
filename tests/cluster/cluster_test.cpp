// The cluster's parts: job specs, node inventories (nvidia-smi, declared GPUs), Slurm's answers
// and the sbatch line, the store's queue and guards (also on PostgreSQL), and the service on
// real processes: jobs run, wait for quotas, and are adopted by a new process after a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "cluster/cluster.hpp"
#include "cluster/job.hpp"
#include "cluster/node.hpp"
#include "cluster/slurm_executor.hpp"
#include "cluster/store.hpp"
#include "common/file.hpp"
#include "common/time.hpp"
#include "test_db.hpp"
#include "test_support.hpp"

using namespace aimass;
using namespace aimass::cluster;
using nlohmann::json;

namespace {

TEST(JobSpecTest, DefaultsAndChecks) {
  auto s = ParseJobSpec(json{{"command", {"python3", "-c", "print(1)"}}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->name, "python3");
  EXPECT_EQ(s->resources.cpus, 1);
  EXPECT_EQ(s->resources.memory_mb, 512);
  EXPECT_TRUE(s->sandbox);
  EXPECT_EQ(s->executor, "local");
  EXPECT_EQ(s->timeout_s, 3600);
  auto bad = [](json j) { return ParseJobSpec(j).status().code(); };
  EXPECT_EQ(bad(json::object()), Code::kBadRequest);
  EXPECT_EQ(bad(json(1)), Code::kBadRequest);  // found by fuzz_cluster: not an object
  EXPECT_EQ(bad(json::array({"true"})), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", json::array()}}), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", {""}}}), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", {"a"}}, {"resources", {{"gpus", 2.5}}}}), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", {"a"}}, {"resources", {{"cpus", 0}}}}), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", {"a"}}, {"env", {{"A-B", "x"}}}}), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", {"a"}}, {"workdir", "/tmp"}}), Code::kBadRequest);  // sandboxed: its own
  EXPECT_EQ(bad(json{{"command", {"a"}}, {"sandbox", false}, {"workdir", "/a/../b"}}), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", {"a"}}, {"executor", "slurm"}}), Code::kBadRequest);  // Slurm: unsandboxed
  EXPECT_EQ(bad(json{{"command", {"a"}}, {"nope", 1}}), Code::kBadRequest);
  EXPECT_EQ(bad(json{{"command", {std::string(300 * 1024, 'a')}}}), Code::kPayloadTooLarge);
  auto share = ParseJobSpec(json{{"command", {"a"}}, {"resources", {{"gpus", 0.25}}}});
  ASSERT_TRUE(share.ok());
  EXPECT_DOUBLE_EQ(share->resources.gpus, 0.25);
  // What is stored parses back the same; what is shown hides env values.
  auto env = ParseJobSpec(json{{"command", {"a"}}, {"env", {{"TOKEN", "s3cret"}}}});
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(SpecJson(*env, false)["env"]["TOKEN"], "***");
  auto back = SpecFromJson(SpecJson(*env, true));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->env.at("TOKEN"), "s3cret");
}

TEST(NodeTest, NvidiaSmiAndDeclaredGpus) {
  auto gpus = ParseNvidiaSmi("0, NVIDIA H200, 143771, GPU-aaaa\n1, NVIDIA H200, 143771, GPU-bbbb\n");
  ASSERT_TRUE(gpus.ok());
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_EQ((*gpus)[1].index, 1);
  EXPECT_EQ((*gpus)[1].model, "NVIDIA H200");
  EXPECT_EQ((*gpus)[1].memory_mb, 143771);
  EXPECT_EQ((*gpus)[1].uuid, "GPU-bbbb");
  EXPECT_TRUE(ParseNvidiaSmi("")->empty());
  EXPECT_FALSE(ParseNvidiaSmi("x, y, 1\n").ok());
  auto declared = ParseDeclaredGpus("Test GPU:16384, Other:8");
  ASSERT_TRUE(declared.ok());
  EXPECT_EQ((*declared)[1].index, 1);
  EXPECT_EQ((*declared)[0].model, "Test GPU");
  EXPECT_FALSE(ParseDeclaredGpus("nomemory").ok());
  EXPECT_FALSE(ParseDeclaredGpus("A:-1").ok());
  EXPECT_TRUE(ValidNodeName("gpu-01.rack2"));
  EXPECT_FALSE(ValidNodeName("Upper"));
  EXPECT_FALSE(ValidNodeName("-x"));
  EXPECT_FALSE(ValidNodeName("a/b"));
  Node n;
  n.heartbeat_ms = 1000;
  n.state = "draining";
  EXPECT_EQ(EffectiveState(n, 5000, 10000), "draining");
  EXPECT_EQ(EffectiveState(n, 20000, 10000), "down");
}

TEST(SlurmTest, ParsesItsAnswersAndBuildsSbatch) {
  auto rows = ParseSqueue("12|RUNNING|None\n13|PENDING|Resources\nnoise\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].id, "13");
  EXPECT_EQ(rows[1].reason, "Resources");
  auto s = ParseScontrolJob("JobId=7 JobName=aimass-3 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 RunTime=1");
  EXPECT_EQ(s.id, "7");
  EXPECT_EQ(s.state, "FAILED");
  EXPECT_EQ(s.exit_code, 3);
  auto o = SlurmOutcome(s);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->state, JobState::kFailed);
  EXPECT_EQ(o->reason, "exit status 3");
  EXPECT_FALSE(SlurmOutcome({"1", "PENDING", "", -1, 0}).has_value());
  EXPECT_EQ(SlurmOutcome({"1", "COMPLETED", "", 0, 0})->state, JobState::kSucceeded);
  EXPECT_EQ(SlurmOutcome({"1", "TIMEOUT", "", 0, 15})->state, JobState::kTimedOut);
  EXPECT_EQ(SlurmOutcome({"1", "OUT_OF_MEMORY", "", 0, 9})->reason, "oom_killed");
  EXPECT_EQ(SlurmOutcome({"1", "NODE_FAIL", "", 0, 0})->reason, "node_lost");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");

  Job j;
  j.id = 42;
  j.spec.command = {"python3", "-c", "print('a b')"};
  j.spec.resources = {2, 1024, 1};
  j.spec.timeout_s = 90;
  SlurmOptions so;
  so.partition = "gpu";
  auto argv = SbatchArgv(so, j, "/d/42/log", "/d/42/work");
  auto has = [&](const std::string& a) { return std::find(argv.begin(), argv.end(), a) != argv.end(); };
  EXPECT_EQ(argv[0], "/usr/bin/sbatch");
  EXPECT_TRUE(has("--job-name=aimass-42"));
  EXPECT_TRUE(has("--cpus-per-task=2"));
  EXPECT_TRUE(has("--mem=1024M"));
  EXPECT_TRUE(has("--gres=gpu:1"));
  EXPECT_TRUE(has("--time=3"));  // 90 s: two minutes, plus one as the backstop
  EXPECT_TRUE(has("--partition=gpu"));
  EXPECT_TRUE(has("--wrap=exec 'python3' '-c' 'print('\\''a b'\\'')'"));
}

class ClusterStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = aimass::testing::OpenTestDb(dir_.file("meta.db"));
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Migrate(ClusterStore::Migrations()).ok());
    store_ = std::make_unique<ClusterStore>(*db_);
  }
  Job Insert(int64_t priority, const std::string& owner = "alice") {
    Job j;
    j.spec = *ParseJobSpec(json{{"command", {"true"}}, {"priority", priority}});
    j.owner = owner;
    j.owner_roles = {"team-a"};
    j.created_ms = j.updated_ms = UnixNowMs();
    EXPECT_TRUE(store_->InsertJob(j).ok());
    return j;
  }
  aimass::testing::TempDir dir_;
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<ClusterStore> store_;
};

TEST_F(ClusterStoreTest, NodesAreHeldByOneLiveInstance) {
  Node n;
  n.name = "n1";
  n.instance = "a";
  n.cpus = 4;
  n.memory_mb = 1000;
  n.gpus = {{0, "G", 10, "u"}};
  n.registered_ms = n.heartbeat_ms = 10000;
  EXPECT_TRUE(*store_->RegisterNode(n, 0));
  ASSERT_TRUE(store_->SetNodeState("n1", "draining").ok());
  Node other = n;
  other.instance = "b";
  EXPECT_FALSE(*store_->RegisterNode(other, 5000)) << "a live node is not taken over";
  other.heartbeat_ms = 30000;
  EXPECT_TRUE(*store_->RegisterNode(other, 15000)) << "a stale one is";
  auto got = store_->GetNode("n1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->instance, "b");
  EXPECT_EQ(got->state, "draining") << "an admin's drain outlives re-registration";
  EXPECT_EQ(got->gpus.size(), 1u);
  EXPECT_EQ(store_->SetNodeState("nope", "ready").code(), Code::kNotFound);
}

TEST_F(ClusterStoreTest, QueueOrderGuardsAndStops) {
  Job low = Insert(0), high = Insert(5), low2 = Insert(0);
  std::vector<ClusterStore::Candidate> c;
  ASSERT_TRUE(db_->Transaction([&](storage::Tx& tx) -> Status {
                   AIMASS_ASSIGN_OR_RETURN(c, ClusterStore::CandidatesTx(tx, "local", 10));
                   return Status::Ok();
                 }).ok());
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].id, high.id);
  EXPECT_EQ(c[1].id, low.id);
  EXPECT_EQ(c[2].id, low2.id);
  EXPECT_EQ(c[0].owner_roles, std::vector<std::string>{"team-a"});
  // A claim is guarded by the state it expects: the second of two claims changes nothing.
  Job claimed = high;
  claimed.state = JobState::kRunning;
  claimed.attempts = 1;
  claimed.node = "n1";
  EXPECT_TRUE(*store_->UpdateJob(claimed, JobState::kQueued));
  EXPECT_FALSE(*store_->UpdateJob(claimed, JobState::kQueued));
  EXPECT_FALSE(*store_->RequestStop(low.id, "cancelled")) << "a queued job on no node is cancelled directly";
  EXPECT_TRUE(*store_->RequestStop(high.id, "cancelled"));
  auto running = store_->RunningJobs("n1");
  ASSERT_TRUE(running.ok());
  ASSERT_EQ(running->size(), 1u);
  EXPECT_EQ((*running)[0].stop, "cancelled");
  JobFilter f;
  f.states = {"queued"};
  EXPECT_EQ(store_->ListJobs(f)->size(), 2u);
  f.owner = "bob";
  EXPECT_TRUE(store_->ListJobs(f)->empty());
  ASSERT_TRUE(store_->PutQuota({"user:alice", 2, -1, -1, 1}).ok());
  ASSERT_TRUE(store_->PutQuota({"user:alice", 3, 100, 1, 2}).ok());
  auto quotas = store_->ListQuotas();
  ASSERT_EQ(quotas->size(), 1u);
  EXPECT_EQ((*quotas)[0].cpus, 3);
  EXPECT_EQ(store_->DeleteQuota("user:bob").code(), Code::kNotFound);
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = aimass::testing::OpenTestDb(dir_.file("meta.db"));
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Migrate(ClusterStore::Migrations()).ok());
  }
  std::unique_ptr<Cluster> Make(const std::string& instance) {
    ClusterOptions o;
    o.node_name = "unit";
    o.instance = instance;
    o.jobs_dir = dir_.path() + "/jobs";
    o.limits = "rlimit";  // the unit tests leave the machine's cgroups alone
    o.gpus = "none";
    auto c = std::make_unique<Cluster>(*db_, o);
    Status st = c->Open();
    EXPECT_TRUE(st.ok()) << st.message();
    c->Start();
    return c;
  }
  static Principal Who(const std::string& name) {
    Principal p;
    p.username = name;
    p.roles = {"developer"};
    return p;
  }
  static JobSpec Spec(std::vector<std::string> cmd, int64_t cpus = 1) {
    JobSpec s = *ParseJobSpec(json{{"command", cmd}, {"sandbox", false}, {"resources", {{"cpus", cpus}, {"memory_mb", 64}}}});
    return s;
  }
  Job WaitFor(Cluster& c, int64_t id, std::initializer_list<JobState> states) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      auto j = c.Get(id);
      EXPECT_TRUE(j.ok());
      for (JobState s : states) {
        if (j->state == s) return *j;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "job " << id << " stayed " << StateName(j->state);
        return *j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  aimass::testing::TempDir dir_;
  std::unique_ptr<storage::Db> db_;
};

TEST_F(ClusterTest, RunsJobsAndKeepsTheirOutput) {
  auto c = Make("one");
  auto ok = c->Submit(Spec({"sh", "-c", "echo hello $AIMASS_JOB_ID"}), Who("alice"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  Job done = WaitFor(*c, ok->id, {JobState::kSucceeded, JobState::kFailed});
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(*ReadFile(c->LogPath(ok->id)), "hello " + std::to_string(ok->id) + "\n");
  auto bad = c->Submit(Spec({"sh", "-c", "exit 7"}), Who("alice"));
  done = WaitFor(*c, bad->id, {JobState::kSucceeded, JobState::kFailed});
  EXPECT_EQ(done.exit_code, 7);
  EXPECT_EQ(done.reason, "exit status 7");
  // More CPUs than the node has: refused.
  EXPECT_EQ(c->Submit(Spec({"true"}, 4096), Who("alice")).status().code(), Code::kUnprocessable);
}

TEST_F(ClusterTest, AQuotaHoldsOneUserAndNotAnother) {
  auto c = Make("one");
  ASSERT_TRUE(c->PutQuota({"user:alice", 1, -1, -1, 1}).ok());
  auto first = c->Submit(Spec({"sleep", "1"}), Who("alice"));
  WaitFor(*c, first->id, {JobState::kRunning});
  auto second = c->Submit(Spec({"true"}), Who("alice"));
  auto other = c->Submit(Spec({"true"}), Who("bob"));
  EXPECT_EQ(WaitFor(*c, other->id, {JobState::kSucceeded}).state, JobState::kSucceeded);
  EXPECT_EQ(c->Get(second->id)->state, JobState::kQueued);
  Job later = WaitFor(*c, second->id, {JobState::kSucceeded});
  EXPECT_GE(later.started_ms, c->Get(first->id)->finished_ms);
  EXPECT_EQ(c->Submit(Spec({"true"}, 2), Who("alice")).status().code(), Code::kUnprocessable);
}

TEST_F(ClusterTest, ANewProcessAdoptsRunningJobs) {
  int64_t id = 0;
  {
    auto c = Make("first");
    auto j = c->Submit(Spec({"sh", "-c", "sleep 1; echo done"}), Who("alice"));
    id = j->id;
    WaitFor(*c, id, {JobState::kRunning});
    c->Stop();  // the server goes; the job does not
  }
  auto c = Make("second");
  Job done = WaitFor(*c, id, {JobState::kSucceeded, JobState::kFailed});
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.attempts, 1);
  EXPECT_EQ(c->node_name(), "unit");
  EXPECT_EQ(*ReadFile(c->LogPath(id)), "done\n");
}

}  // namespace
