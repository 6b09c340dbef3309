// VersionRunner: one registry version of a deployment, loaded and serving. It owns `instances`
// executors (a thread and a loaded Runtime each) and the queue in front of them, where the
// dynamic batcher joins requests whose inputs agree past the first dimension into one batch
// (Triton's model: max_batch_size, max_queue_delay_us, preferred_batch_sizes). Requests wait
// on their own job, never on the queue lock; the queue is bounded (max_queue_size) and a
// request that outlives its timeout while still queued is dropped with deadline_exceeded.
// Destroying a runner drains it: queued requests still run, then the runtimes are unloaded.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "registry/model.hpp"
#include "serving/inference_stats.hpp"
#include "serving/runtime.hpp"
#include "serving/tensor.hpp"

namespace aimass::serving {

class LlmRunner;

// A language model's engine settings (framework `llm`; see llm::EngineOptions).
struct LlmOptions {
  int threads = 0;               // 0: every core
  std::string chat_template;     // empty: detected from the model
  bool int8 = false;             // weight-only int8 quantisation at load
  int max_seqs = 64;
  int64_t kv_cache_mb = 512;
  int64_t max_model_len = 0;     // 0: the model's max_position_embeddings
  int64_t max_batch_tokens = 1024;
};

struct RunnerOptions {
  int instances = 1;
  int threads = 1;
  int64_t max_batch_size = 0;  // 0 or 1: no batching
  int64_t max_queue_delay_us = 500;
  std::vector<int64_t> preferred_batch_sizes;
  int64_t max_queue_size = 1024;
  bool optimize = true;  // RuntimeOptions::optimize
  LlmOptions llm;
};

// What to load: a registry version's artifact.
struct LoadSpec {
  std::string deployment;
  int64_t version = 0;
  std::string framework;
  std::string path;               // the file the runtime loads
  registry::Signature signature;  // from the registry
  // Called once, from an executor, when a signature that lacked datatypes or shapes was
  // completed from the first request that succeeded (see Start).
  std::function<void(const registry::Signature&)> signature_learned;
  // A language model's directory: each file's path in it → its local path.
  std::map<std::string, std::string> files;
};

class VersionRunner {
 public:
  // Loads one runtime per instance and warms each with a batch of zeros where the signature
  // gives every dimension (or -1, taken as 1). A signature whose inputs lack a datatype or
  // shape (TorchScript records neither) is completed from the first request that succeeds:
  // its datatypes and shapes, the first dimension taken as the batch (-1); later requests are
  // checked against it before the model runs.
  // `load` makes one runtime per call (default: LoadRuntime of the spec's framework and path).
  using RuntimeFactory = std::function<Result<std::unique_ptr<Runtime>>()>;
  static Result<std::shared_ptr<VersionRunner>> Start(const LoadSpec& spec, const RunnerOptions& options,
                                                      std::shared_ptr<prometheus::Registry> metrics,
                                                      RuntimeFactory load = nullptr);
  ~VersionRunner();

  // Checks `inputs` against the signature (names, datatypes, shapes; a tensor's byte count is
  // already checked), queues them and waits for the answer until `deadline`.
  Result<std::vector<Tensor>> Infer(std::vector<Tensor> inputs, std::chrono::steady_clock::time_point deadline);
  // The same without waiting: `done` is called once, from an executor (or at once, for a
  // refused request). Returns the cancel for the deadline: it fails a job still queued with
  // deadline_exceeded (calling `done`) and leaves a running one alone. The runner must outlive
  // the call of the cancel.
  std::function<void()> InferAsync(std::vector<Tensor> inputs, std::chrono::steady_clock::time_point deadline,
                                   std::function<void(Result<std::vector<Tensor>>)> done);

  // Grows or shrinks the executors to `n` (at least 1): new ones load and warm a runtime first
  // (the caller's thread waits), leaving ones finish the batch they run. No request is
  // dropped either way.
  Status Resize(int n);
  // Executors serving now.
  int instances() const;
  int64_t version() const { return spec_.version; }
  // The signature requests are checked against: the registry's, or the one learned from the
  // first success.
  const registry::Signature& signature() const;
  const std::string& framework() const { return spec_.framework; }
  const RunnerOptions& options() const { return options_; }
  // The language model this version serves (framework `llm`), else null.
  LlmRunner* llm() const { return llm_.get(); }
  InferenceStats& stats() { return *stats_; }

  struct Impl;

 private:
  VersionRunner() = default;
  Status Warm(Runtime& rt);
  Status LanguageModelRefusal() const;
  void AddExecutor(std::unique_ptr<Runtime> runtime);
  LoadSpec spec_;
  RunnerOptions options_;
  registry::Signature signature_;
  std::unique_ptr<InferenceStats> stats_;
  // Set once by an executor; read on every request (acquire), so it is never changed after.
  std::atomic<const registry::Signature*> learned_{nullptr};
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<LlmRunner> llm_;
};

// Orders `inputs` as the signature lists them and checks each: known name, datatype and shape
// where the signature gives them. Errors name the tensor and what was expected.
Status MatchSignature(const registry::Signature& sig, std::vector<Tensor>& inputs);

}  // namespace aimass::serving
