// The scan every insight runs: each person once, with their events in time order, on all cores.
// A person's events are contiguous in every part (parts are sorted by distinct id and time);
// one run is read as it is, several (a person with events in several parts, or several ids
// merged into one person) are merged by time into the thread's buffer.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <span>
#include <thread>
#include <vector>

#include "behavior/project.hpp"
#include "behavior/query.hpp"

namespace aimass::behavior {

struct PersonEvent {
  int64_t time;
  uint32_t event;
  uint32_t row;
  const EventColumns* cols;
};

// Calls keep(cols, row) for each event of each person in `persons` (by root; empty: all) to
// choose the events to pass, then fn(thread, root, events) for each person with any. `fn` runs
// on `threads` threads at once; thread is 0 … threads - 1.
template <typename Keep, typename Fn>
void ScanPersons(const Snapshot& snap, int threads, const std::vector<uint8_t>& persons, Keep&& keep, Fn&& fn) {
  const uint32_t n = static_cast<uint32_t>(snap.roots.size());
  constexpr uint32_t kBlock = 2048;
  std::atomic<uint32_t> next{0};
  auto work = [&](int t) {
    std::vector<PersonEvent> buf;
    std::vector<uint32_t> single{0};
    for (;;) {
      const uint32_t begin = next.fetch_add(kBlock);
      if (begin >= n) return;
      const uint32_t end = std::min(n, begin + kBlock);
      for (uint32_t d = begin; d < end; ++d) {
        if (snap.roots[d] != d || !InMask(persons, d)) continue;
        const std::vector<uint32_t>* ids = &single;
        if (!snap.ids.empty()) {
          if (auto it = snap.ids.find(d); it != snap.ids.end()) ids = &it->second;
        }
        single[0] = d;
        buf.clear();
        int runs = 0;
        for (const auto& part : snap.parts) {
          const EventColumns& c = part->cols;
          for (uint32_t id : *ids) {
            const auto [lo, hi] = part->Range(id);
            if (lo == hi) continue;
            ++runs;
            for (uint32_t r = lo; r < hi; ++r) {
              if (keep(c, r)) buf.push_back({c.time[r], c.event[r], r, &c});
            }
          }
        }
        if (buf.empty()) continue;
        if (runs > 1) {
          std::stable_sort(buf.begin(), buf.end(), [](const PersonEvent& a, const PersonEvent& b) { return a.time < b.time; });
        }
        fn(t, d, std::span<const PersonEvent>(buf));
      }
    }
  };
  if (threads <= 1) {
    work(0);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
}

}  // namespace aimass::behavior
