// What one served version has done: the counters of the protocol's statistics extension
// (success, failure, queue and compute time, executions, per-batch-size compute), failures by
// reason, and a window of recent latencies for the canary controller. Also exported to
// Prometheus (aimass_inference_*{deployment,version}). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
}

namespace aimass::serving {

struct Duration {
  uint64_t count = 0;
  uint64_t ns = 0;
};

struct StatsSnapshot {
  Duration success, fail, queue, compute_input, compute_infer, compute_output;
  uint64_t inference_count = 0;  // requests answered by the model
  uint64_t execution_count = 0;  // batches run
  int64_t last_inference_ms = 0;
  std::map<std::string, uint64_t> failures;      // by reason: bad_request, queue_full, timeout, model_error
  std::map<int64_t, Duration> batches;           // compute_infer per batch size (requests)
  uint64_t pending = 0;                          // queued or running now
  double busy_seconds = 0;                       // summed over instances
};

// Error rate and latency percentiles over a recent window: the canary controller compares a
// canary with the stable version on them, and the console draws them.
struct WindowStats {
  uint64_t requests = 0;
  uint64_t errors = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double queue_p50_ms = 0;  // time waiting for an executor (answered requests)
  double error_rate() const { return requests ? static_cast<double>(errors) / requests : 0; }
};

// A language model's side (framework `llm`): tokens, sequences, KV blocks, and the time to
// first token and between tokens over a recent window.
struct LlmSnapshot {
  uint64_t prompt_tokens = 0;
  uint64_t generated_tokens = 0;
  int running = 0;
  int waiting = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  double ttft_p50_ms = 0, ttft_p99_ms = 0;
  double itl_p50_ms = 0, itl_p99_ms = 0;
  double tokens_per_s = 0;  // generated over the window
};

class InferenceStats {
 public:
  InferenceStats(std::shared_ptr<prometheus::Registry> registry, const std::string& deployment,
                 const std::string& version);
  ~InferenceStats();

  struct Served {
    uint64_t total_ns;
    uint64_t queue_ns;
  };
  // A batch's requests under one lock: the executor that answers them is not the only thread
  // here (each request queued counts as pending from an I/O thread).
  void RecordSuccesses(const std::vector<Served>& served);
  // reason: bad_request | queue_full | timeout | model_error
  void RecordFailure(const std::string& reason, uint64_t total_ns);
  void RecordExecution(int64_t requests, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns);
  void AddPending(int delta);  // lock-free: called on every request's I/O thread
  void AddBusy(uint64_t ns);

  // Language models: series aimass_llm_* for this version, then the engine's reports.
  void EnableLlm();
  void RecordFirstToken(double seconds);
  void RecordInterToken(double seconds);
  void RecordTokens(int64_t prompt, int64_t completion);
  void SetLlmState(int running, int waiting, int64_t kv_used, int64_t kv_total);
  LlmSnapshot Llm(std::chrono::seconds window) const;

  StatsSnapshot Snapshot() const;
  WindowStats Window(std::chrono::seconds window) const;
  void ResetWindow();

 private:
  void RecordTiming(double seconds, bool first);  // time to first token, else between tokens
  struct Prom;
  std::unique_ptr<Prom> prom_;
  mutable std::mutex mu_;
  StatsSnapshot s_;  // its `pending` is pending_'s
  std::atomic<int64_t> pending_{0};
  struct Sample {
    std::chrono::steady_clock::time_point at;
    uint32_t us;
    bool ok;
    uint32_t queue_us = 0;
  };
  std::deque<Sample> recent_;  // bounded: the newest 100,000
  struct Timing {
    std::chrono::steady_clock::time_point at;
    uint32_t us;
    bool first;  // time to first token, else between tokens
  };
  std::deque<Timing> timings_;  // bounded: the newest 100,000
  LlmSnapshot llm_;
};

}  // namespace aimass::serving
