// Runs a loop's iterations on several threads, in contiguous chunks handed out as they finish.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace aimass {

template <typename F>
void ParallelFor(size_t n, int threads, F&& body) {
  const size_t workers = std::max<size_t>(1, std::min<size_t>(threads > 0 ? threads : 1, n / 64 + 1));
  if (workers == 1) {
    for (size_t i = 0; i < n; ++i) body(i, 0);
    return;
  }
  const size_t chunk = std::max<size_t>(16, n / (workers * 16));
  std::atomic<size_t> next{0};
  auto work = [&](size_t worker) {
    for (;;) {
      const size_t from = next.fetch_add(chunk);
      if (from >= n) return;
      for (size_t i = from; i < std::min(n, from + chunk); ++i) body(i, worker);
    }
  };
  std::vector<std::thread> pool;
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
}

}  // namespace aimass
