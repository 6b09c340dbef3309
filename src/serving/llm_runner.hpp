// LlmRunner: the engines of one served language-model version (framework `llm`): one per
// instance, each batching its own sequences continuously; a request goes to the engine with
// the fewest sequences. Reports tokens, timings and engine state to the version's
// InferenceStats, and each request's outcome as the other runtimes do (so canaries, the
// autoscaler and /stats treat it alike).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "common/status.hpp"
#include "llm/engine.hpp"
#include "serving/inference_stats.hpp"
#include "serving/version_runner.hpp"

namespace aimass::serving {

class LlmRunner {
 public:
  static Result<std::unique_ptr<LlmRunner>> Start(const LoadSpec& spec, const RunnerOptions& options, InferenceStats& stats);
  ~LlmRunner();

  // What engines and their requests report to, shared with them: a request can outlive the
  // runner (its answer holds the engine), and once the runner is gone its reports are dropped.
  struct Sink;
  // A request under way: what Cancel needs.
  struct Handle {
    std::shared_ptr<llm::Engine> engine;
    uint64_t id = 0;
    std::shared_ptr<std::atomic<bool>> settled;  // its outcome was counted
  };
  // Queues a request on the least busy engine. Refusals (too long, bad sampling values) are
  // bad_request and never reach `on_update`.
  Result<Handle> Submit(llm::GenerateRequest request, llm::UpdateFn on_update);
  // The client went away: the sequence stops and its blocks are free at the next step.
  void Cancel(const Handle& handle);

  // The first engine (every engine loads the same model): tokenizer, template, limits.
  const llm::Engine& model() const;
  Status Resize(int n);
  int instances() const;

 private:
  class Observer;
  Result<std::shared_ptr<llm::Engine>> LoadOne();

  LoadSpec spec_;
  RunnerOptions options_;
  std::shared_ptr<Sink> sink_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<llm::Engine>> engines_;
  std::vector<std::shared_ptr<Observer>> observers_;  // engines_[i]'s
  std::mutex resize_mu_;
};

}  // namespace aimass::serving
