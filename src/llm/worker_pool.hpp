// WorkerPool: a fixed set of threads that split one loop between them and the caller, many
// times a second. A decode step runs a few hundred such loops, so a loop must cost
// microseconds to hand out: workers spin for a while on the generation counter before they
// sleep on a condition variable, and the caller works too.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <thread>
#include <vector>

namespace aimass::llm {

class WorkerPool {
 public:
  // `threads` in all, the caller included (at least 1).
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(i) for every i in [0, n), spread over the threads; returns when all are done.
  // Not reentrant: one caller at a time (the engine's thread).
  template <typename F>
  void Run(int64_t n, F&& body) {
    if (n <= 0) return;
    if (workers_.empty() || n == 1) {
      for (int64_t i = 0; i < n; ++i) body(i);
      return;
    }
    auto* f = &body;
    Dispatch(n, [](void* ctx, int64_t i) { (*static_cast<decltype(f)>(ctx))(i); }, f);
  }

 private:
  using Fn = void (*)(void*, int64_t);
  // One loop, on the caller's stack while Dispatch runs.
  struct Job {
    int64_t n;
    Fn fn;
    void* ctx;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  void Dispatch(int64_t n, Fn fn, void* ctx);
  void Work();
  static void Drain(Job& job);

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};  // bumped for every job (and to stop)
  // The job under way. A worker counts itself in `busy_` before it reads this, and Dispatch
  // clears it and waits for `busy_` to drop to zero before its Job goes out of scope.
  std::atomic<Job*> job_{nullptr};
  std::atomic<int> busy_{0};
  std::atomic<bool> stop_{false};
  // Workers that stopped spinning wait here; Dispatch wakes them only when there are any.
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<int> sleepers_{0};
};

}  // namespace aimass::llm
