// The serving runner's queue and dynamic batcher, driven through a small Runtime written here
// (y = 2x over FP32 [n, 2]) that records the batches it is given, so what is checked is the
// batching itself: requests joined, answers split back to the right caller, the queue bound,
// timeouts and a failing model.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include <prometheus/registry.h>

#include "http/metrics.hpp"
#include "serving/deployment.hpp"
#include "serving/version_runner.hpp"
#include <nlohmann/json.hpp>

namespace aimass::serving {
namespace {

using Clock = std::chrono::steady_clock;

struct Record {
  std::mutex mu;
  std::vector<int64_t> batches;  // rows per Run
  std::vector<int> policies;     // the scheduling policy of the thread of each Run
  std::string thread_name;       // of the thread of the last Run
  std::atomic<int> delay_ms{0};
  std::atomic<bool> fail{false};
  bool names_only = false;  // the signature names its tensors only (as TorchScript's does)
  std::atomic<bool> refuse_negative{false};  // a negative value is refused, as an operator would
};

class DoublingRuntime : public Runtime {
 public:
  explicit DoublingRuntime(Record* rec) : rec_(rec) {
    if (rec->names_only) {
      sig_.inputs.push_back({"x", "", {}});
      return;
    }
    sig_.inputs.push_back({"x", "FP32", {-1, 2}});
    sig_.outputs.push_back({"y", "FP32", {-1, 2}});
  }
  const registry::Signature& signature() const override { return sig_; }
  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& in) override {
    if (int d = rec_->delay_ms.load()) std::this_thread::sleep_for(std::chrono::milliseconds(d));
    {
      std::lock_guard lock(rec_->mu);
      rec_->batches.push_back(in[0].shape[0]);
      rec_->policies.push_back(sched_getscheduler(0));
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof(name));
      rec_->thread_name = name;
    }
    if (rec_->fail) return Status::Internal("the model failed: boom");
    Tensor out{"y", DataType::kFp32, in[0].shape, in[0].data};
    auto* f = reinterpret_cast<float*>(out.data.data());
    for (size_t i = 0; rec_->refuse_negative && i < out.data.size() / 4; ++i) {
      if (f[i] < 0) return Status::BadRequest("the model rejected the input: negative value");
    }
    for (size_t i = 0; i < out.data.size() / 4; ++i) f[i] *= 2;
    return std::vector<Tensor>{out};
  }

 private:
  Record* rec_;
  registry::Signature sig_;
};

Tensor Input(std::vector<float> values) {
  Tensor t{"x", DataType::kFp32, {static_cast<int64_t>(values.size() / 2), 2}, ""};
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  return t;
}

std::vector<float> Floats(const Tensor& t) {
  std::vector<float> v(t.data.size() / 4);
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

std::shared_ptr<VersionRunner> Start(Record& rec, RunnerOptions opt,
                                     std::function<void(const registry::Signature&)> learned = nullptr) {
  LoadSpec spec{"test", 1, "test", "", {}, std::move(learned)};
  auto r = VersionRunner::Start(spec, opt, nullptr, [&rec]() -> Result<std::unique_ptr<Runtime>> {
    return std::unique_ptr<Runtime>(std::make_unique<DoublingRuntime>(&rec));
  });
  EXPECT_TRUE(r.ok()) << r.status().message();
  std::lock_guard lock(rec.mu);
  rec.batches.clear();  // forget the warm-up runs
  rec.policies.clear();
  return *r;
}

auto Soon(int ms = 5000) { return Clock::now() + std::chrono::milliseconds(ms); }

TEST(VersionRunner, ConcurrentRequestsAreBatchedAndEachGetsItsOwnRows) {
  Record rec;
  auto runner = Start(rec, {.instances = 1, .max_batch_size = 8, .max_queue_delay_us = 20000});
  constexpr int kClients = 16;
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto out = runner->Infer({Input({float(i), float(i) + 0.5f})}, Soon());
      if (!out.ok() || Floats((*out)[0]) != std::vector<float>{2.0f * i, 2.0f * i + 1}) wrong++;
      if (out.ok() && (*out)[0].shape != std::vector<int64_t>{1, 2}) wrong++;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  std::lock_guard lock(rec.mu);
  int64_t rows = 0, largest = 0;
  for (int64_t b : rec.batches) {
    rows += b;
    largest = std::max(largest, b);
    EXPECT_LE(b, 8);
  }
  EXPECT_EQ(rows, kClients);
  EXPECT_GT(largest, 1) << "no two requests were batched";
  auto stats = runner->stats().Snapshot();
  EXPECT_EQ(stats.inference_count, static_cast<uint64_t>(kClients));
  EXPECT_EQ(stats.execution_count, rec.batches.size());
  EXPECT_EQ(stats.success.count, static_cast<uint64_t>(kClients));
  EXPECT_EQ(stats.pending, 0u);
}

TEST(VersionRunner, APreferredSizeIsSentWithoutWaitingForTheDelay) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 64, .max_queue_delay_us = 5000000, .preferred_batch_sizes = {2}});
  auto start = Clock::now();
  std::thread a([&] { EXPECT_TRUE(runner->Infer({Input({1, 2})}, Soon(10000)).ok()); });
  std::thread b([&] { EXPECT_TRUE(runner->Infer({Input({3, 4})}, Soon(10000)).ok()); });
  a.join();
  b.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3)) << "waited for the 5 s delay";
}

// The executor forming a batch is woken only once the queue holds enough rows for one; the
// rows are counted, not the requests (two requests of two rows fill a batch of four).
TEST(VersionRunner, AFullBatchIsSentWithoutWaitingForTheDelay) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 4, .max_queue_delay_us = 5000000});
  auto start = Clock::now();
  std::thread a([&] { EXPECT_TRUE(runner->Infer({Input({1, 2, 3, 4})}, Soon(10000)).ok()); });
  std::thread b([&] { EXPECT_TRUE(runner->Infer({Input({5, 6, 7, 8})}, Soon(10000)).ok()); });
  a.join();
  b.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3)) << "waited for the 5 s delay";
  std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.batches, std::vector<int64_t>{4});
  EXPECT_EQ(runner->stats().Snapshot().pending, 0u);
}

TEST(VersionRunner, WithoutBatchingEachRequestRunsAlone) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 0});
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) clients.emplace_back([&] { EXPECT_TRUE(runner->Infer({Input({1, 2, 3, 4})}, Soon()).ok()); });
  for (auto& t : clients) t.join();
  std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.batches, std::vector<int64_t>(6, 2));
}

// Single-threaded executors are batch work for the kernel's scheduler (woken, they do not
// preempt the I/O thread that queued the job); an executor with an intra-op team is not.
TEST(VersionRunner, SingleThreadedExecutorsRunAsBatchWork) {
  for (int threads : {1, 2}) {
    Record rec;
    auto runner = Start(rec, {.instances = 2, .threads = threads, .max_batch_size = 0});
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i) clients.emplace_back([&] { EXPECT_TRUE(runner->Infer({Input({1, 2})}, Soon()).ok()); });
    for (auto& t : clients) t.join();
    std::lock_guard lock(rec.mu);
    EXPECT_EQ(rec.policies, std::vector<int>(4, threads == 1 ? SCHED_BATCH : SCHED_OTHER)) << threads << " threads";
  }
}

// `top -H` and perf tell executors apart by their deployment.
TEST(VersionRunner, ExecutorThreadsAreNamedAfterTheirDeployment) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 0});
  ASSERT_TRUE(runner->Infer({Input({1, 2})}, Soon()).ok());
  std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.thread_name, "infer:test");
}

TEST(VersionRunner, AFullQueueRefusesAtOnce) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 0, .max_queue_size = 1});
  rec.delay_ms = 300;
  std::vector<std::thread> clients;
  std::atomic<int> refused{0}, served{0};
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      auto out = runner->Infer({Input({1, 2})}, Soon());
      if (out.ok()) served++;
      else if (out.status().code() == Code::kUnavailable) refused++;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_GE(refused.load(), 1);
  EXPECT_GE(served.load(), 1);
  EXPECT_EQ(refused + served, 6);
  EXPECT_EQ(runner->stats().Snapshot().failures["queue_full"], static_cast<uint64_t>(refused.load()));
}

TEST(VersionRunner, ARequestThatTimesOutInTheQueueIsNotRun) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 0});
  rec.delay_ms = 400;
  std::thread slow([&] { EXPECT_TRUE(runner->Infer({Input({1, 2})}, Soon()).ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto out = runner->Infer({Input({3, 4})}, Clock::now() + std::chrono::milliseconds(100));
  slow.join();
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kDeadlineExceeded);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.batches.size(), 1u) << "the timed-out request was computed anyway";
}

TEST(VersionRunner, AModelErrorFailsThatBatchOnly) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 0});
  rec.fail = true;
  auto bad = runner->Infer({Input({1, 2})}, Soon());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInternal);
  rec.fail = false;
  auto good = runner->Infer({Input({1, 2})}, Soon());
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(Floats((*good)[0]), (std::vector<float>{2, 4}));
  EXPECT_EQ(runner->stats().Snapshot().failures["model_error"], 1u);
}

TEST(VersionRunner, AnIncompleteSignatureIsLearnedFromTheFirstSuccess) {
  Record rec;
  rec.names_only = true;
  std::mutex mu;
  std::vector<registry::Signature> learned;
  auto runner = Start(rec, {.max_batch_size = 0}, [&](const registry::Signature& s) {
    std::lock_guard lock(mu);
    learned.push_back(s);
  });
  EXPECT_TRUE(runner->signature().inputs[0].shape.empty());
  ASSERT_TRUE(runner->Infer({Input({1, 2, 3, 4})}, Soon()).ok());
  ASSERT_TRUE(runner->Infer({Input({1, 2})}, Soon()).ok());
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(learned.size(), 1u);  // once, from the first success
    EXPECT_EQ(learned[0].inputs[0].name, "x");
    EXPECT_EQ(learned[0].inputs[0].datatype, "FP32");
    EXPECT_EQ(learned[0].inputs[0].shape, (std::vector<int64_t>{-1, 2}));
    ASSERT_EQ(learned[0].outputs.size(), 1u);
    EXPECT_EQ(learned[0].outputs[0].shape, (std::vector<int64_t>{-1, 2}));
  }
  EXPECT_EQ(runner->signature().inputs[0].shape, (std::vector<int64_t>{-1, 2}));
  // A wrong shape is now refused before the model runs.
  Tensor wide{"x", DataType::kFp32, {1, 3}, std::string(12, '\0')};
  auto refused = runner->Infer({wide}, Soon());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kBadRequest);
  EXPECT_NE(refused.status().message().find("expected [-1,2]"), std::string::npos) << refused.status().message();
  std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.batches.size(), 2u);
}

TEST(VersionRunner, AnInputTheModelRefusesFailsThatRequestOnlyWithinABatch) {
  Record rec;
  auto runner = Start(rec, {.max_batch_size = 8, .max_queue_delay_us = 200000, .preferred_batch_sizes = {3}});
  rec.refuse_negative = true;
  std::vector<Result<std::vector<Tensor>>> out(3, Status::Internal("not run"));
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&, i] { out[i] = runner->Infer({Input({i == 1 ? -1.0f : 1.0f, 2})}, Soon()); });
  }
  for (auto& t : clients) t.join();
  ASSERT_FALSE(out[1].ok());
  EXPECT_EQ(out[1].status().code(), Code::kBadRequest);
  ASSERT_TRUE(out[0].ok()) << out[0].status().message();
  ASSERT_TRUE(out[2].ok()) << out[2].status().message();
  EXPECT_EQ(Floats((*out[2])[0]), (std::vector<float>{2, 4}));
  std::lock_guard lock(rec.mu);
  EXPECT_EQ(rec.batches.front(), 3) << "the three were not batched: the test proves nothing";
  EXPECT_EQ(rec.batches.size(), 4u);  // the batch, then each alone
}

TEST(MatchSignatureTest, NamesTheTensorAndWhatWasExpected) {
  registry::Signature sig;
  sig.inputs.push_back({"x", "FP32", {-1, 2}});
  auto check = [&](Tensor t) {
    std::vector<Tensor> in{std::move(t)};
    return MatchSignature(sig, in);
  };
  Tensor wrong_name = Input({1, 2});
  wrong_name.name = "z";
  EXPECT_EQ(check(wrong_name).message(), "unknown input 'z'; the model takes 'x'");
  Tensor wrong_type = Input({1, 2});
  wrong_type.dtype = DataType::kInt32;
  EXPECT_EQ(check(wrong_type).message(), "input 'x' is INT32; expected FP32");
  Tensor wrong_shape{"x", DataType::kFp32, {1, 3}, std::string(12, '\0')};
  EXPECT_EQ(check(wrong_shape).message(), "input 'x' has shape [1,3]; expected [-1,2] (-1: any size)");
  EXPECT_TRUE(check(Input({1, 2, 3, 4})).ok());
  std::vector<Tensor> none;
  EXPECT_EQ(MatchSignature(sig, none).code(), Code::kBadRequest);
}

TEST(DeploymentSpecTest, ParsesCreateAndPatchAndRefusesNonsense) {
  DeploymentSpec s;
  auto ok = ParseDeploymentSpec(nlohmann::json::parse(R"({"name":"fashion","model":"cnn","alias":"production",
      "max_batch_size":16,"preferred_batch_sizes":[4,8],
      "traffic":{"candidate":{"version":4},"auto":{"steps":[20,100],"window_s":5}}})"), false, s);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(*s.alias, "production");
  EXPECT_EQ(s.runner.max_batch_size, 16);
  EXPECT_EQ(*s.traffic.candidate, 4);
  EXPECT_EQ(s.traffic.weight, 20) << "auto starts at its first step";
  EXPECT_TRUE(s.runner.optimize) << "TorchScript is optimised unless told not to";
  ASSERT_TRUE(ParseDeploymentSpec(nlohmann::json::parse(R"({"version":3,"optimize":false})"), true, s).ok());
  EXPECT_EQ(*s.version, 3);
  EXPECT_FALSE(s.runner.optimize);
  EXPECT_EQ(SpecToJson(s)["optimize"], false);
  EXPECT_FALSE(s.alias);
  for (const char* bad : {R"({"name":"x","model":"m"})", R"({"name":"../x","model":"m","version":1})",
                          R"({"name":"x","model":"m","version":1,"alias":"a"})",
                          R"({"name":"x","model":"m","version":1,"instances":0})",
                          R"({"name":"x","model":"m","version":1,"bogus":1})",
                          R"({"name":"x","model":"m","version":1,"optimize":"yes"})",
                          R"({"name":"x","model":"m","version":1,"traffic":{"weight":10}})",
                          R"({"name":"x","model":"m","version":1,"max_batch_size":4,"preferred_batch_sizes":[8]})",
                          R"({"name":"x","model":"m","version":1,"traffic":{"candidate":{"version":2},"auto":{"steps":[50]}}})"}) {
    DeploymentSpec t;
    EXPECT_EQ(ParseDeploymentSpec(nlohmann::json::parse(bad), false, t).code(), Code::kBadRequest) << bad;
  }
}

}  // namespace
}  // namespace aimass::serving

namespace aimass::serving {
namespace {

// A runner replacing another of the same deployment and version (a PATCH reloads it) shares
// its Prometheus series; unloading the old one must not pull them from under the new one.
TEST(InferenceStatsTest, TwoRunnersOfOneVersionShareSeriesSafely) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto old_stats = std::make_unique<InferenceStats>(registry, "dep", "1");
  InferenceStats new_stats(registry, "dep", "1");
  old_stats->RecordSuccesses({{1000, 10}});
  new_stats.RecordSuccesses({{1000, 10}});
  old_stats.reset();
  new_stats.RecordSuccesses({{2000, 20}});
  new_stats.RecordExecution(1, 1, 1, 1);
  new_stats.RecordFailure("timeout", 5);
  std::string text = http::RenderMetrics(*registry);
  EXPECT_NE(text.find("aimass_inference_requests_total{deployment=\"dep\",outcome=\"success\",version=\"1\"} 3"),
            std::string::npos)
      << text;
  EXPECT_EQ(new_stats.Snapshot().success.count, 2u);
}

// The pending count moves without the stats lock, in the snapshot and the exported gauge alike;
// a batch's successes count one each.
TEST(InferenceStatsTest, PendingGoesUpAndDownAndABatchCountsEachRequest) {
  auto registry = std::make_shared<prometheus::Registry>();
  InferenceStats stats(registry, "dep", "2");
  stats.AddPending(1);
  stats.AddPending(1);
  stats.AddPending(1);
  EXPECT_EQ(stats.Snapshot().pending, 3u);
  std::string gauge = "aimass_inference_pending_requests{deployment=\"dep\",version=\"2\"} ";
  EXPECT_NE(http::RenderMetrics(*registry).find(gauge + "3"), std::string::npos);
  stats.RecordSuccesses({{1000, 10}, {2000, 20}, {3000, 30}});
  stats.AddPending(-3);
  auto snap = stats.Snapshot();
  EXPECT_EQ(snap.pending, 0u);
  EXPECT_EQ(snap.success.count, 3u);
  EXPECT_EQ(snap.success.ns, 6000u);
  EXPECT_EQ(snap.queue.ns, 60u);
  std::string text = http::RenderMetrics(*registry);
  EXPECT_NE(text.find(gauge + "0"), std::string::npos) << text;
  EXPECT_NE(text.find("aimass_inference_requests_total{deployment=\"dep\",outcome=\"success\",version=\"2\"} 3"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace aimass::serving
