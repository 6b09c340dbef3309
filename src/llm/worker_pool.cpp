#include "llm/worker_pool.hpp"

#include "common/thread_name.hpp"

namespace aimass::llm {

namespace {

inline void CpuRelax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

// About 50 µs of spinning before a worker sleeps: a decode step hands out its next loop well
// within that, and an idle engine stops burning a core soon after.
constexpr int kSpins = 20000;

}  // namespace

WorkerPool::WorkerPool(int threads) {
  for (int i = 1; i < threads; ++i) {
    workers_.emplace_back([this] {
      NameThisThread("llm-worker");
      Work();
    });
  }
}

WorkerPool::~WorkerPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  {
    std::lock_guard lock(sleep_mu_);
  }
  sleep_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void WorkerPool::Drain(Job& job) {
  for (;;) {
    const int64_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.n) return;
    job.fn(job.ctx, i);
    job.done.fetch_add(1, std::memory_order_release);
  }
}

void WorkerPool::Dispatch(int64_t n, Fn fn, void* ctx) {
  Job job{n, fn, ctx};
  job_.store(&job);
  generation_.fetch_add(1);
  // A worker counts itself a sleeper before it checks the generation under the lock, so
  // either it sees the new generation or it is counted here (both sequentially consistent).
  if (sleepers_.load() > 0) {
    {
      std::lock_guard lock(sleep_mu_);
    }
    sleep_cv_.notify_all();
  }
  Drain(job);
  while (job.done.load(std::memory_order_acquire) < n) CpuRelax();
  job_.store(nullptr);
  while (busy_.load() != 0) CpuRelax();
}

void WorkerPool::Work() {
  // The generation the pool was made with: a job dispatched before this thread ran is still
  // seen as new (a value read here could already count it, or the destructor's last bump).
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t g;
    while ((g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load(std::memory_order_relaxed)) {
      if (++spins < kSpins) {
        CpuRelax();
      } else {
        sleepers_.fetch_add(1);
        {
          std::unique_lock lock(sleep_mu_);
          sleep_cv_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
        }
        sleepers_.fetch_sub(1);
        spins = 0;
      }
    }
    seen = g;
    if (stop_.load()) return;
    busy_.fetch_add(1);
    if (Job* job = job_.load()) Drain(*job);
    busy_.fetch_sub(1);
  }
}

}  // namespace aimass::llm
