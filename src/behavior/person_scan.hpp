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
  uint32_t part;  // its part's place in the snapshot (older first)
  uint32_t mask;  // what `keep` said of it (which series or steps it matches), never 0
};

// Calls keep(cols, row) for each event of each person in `persons` (by root; empty: all) to
// choose the events to pass: 0 drops it, anything else (a bit per series or step it matches,
// so that `fn` need not match it again) keeps it as its mask. Then fn(thread, root, events) for
// each person with any. `fn` runs on `threads` threads at once; thread is 0 … threads - 1.
template <typename Keep, typename Fn>
void ScanPersons(const Snapshot& snap, int threads, const std::vector<uint8_t>& persons, Keep&& keep, Fn&& fn) {
  const uint32_t n = static_cast<uint32_t>(snap.roots.size());
  constexpr uint32_t kBlock = 2048;
  std::atomic<uint32_t> next{0};
  auto work = [&](int t) {
    std::vector<PersonEvent> buf;
    std::vector<size_t> runs;  // where each run starts in buf
    std::vector<uint32_t> single{0};
    for (;;) {
      const uint32_t begin = next.fetch_add(kBlock);
      if (begin >= n) return;
      const uint32_t end = std::min(n, begin + kBlock);
      for (uint32_t d = begin; d < end; ++d) {
        if (snap.roots[d] != d || !InMask(persons, d)) continue;
        std::span<const uint32_t> ids = snap.IdsOf(d);
        single[0] = d;
        if (ids.empty()) ids = std::span<const uint32_t>(single);
        buf.clear();
        runs.clear();
        for (uint32_t p = 0; p < snap.parts.size(); ++p) {
          const Part& part = *snap.parts[p];
          const EventColumns& c = part.cols;
          for (uint32_t id : ids) {
            const auto [lo, hi] = part.Range(id);
            if (lo == hi) continue;
            if (runs.empty() || runs.back() != buf.size()) runs.push_back(buf.size());
            for (uint32_t r = lo; r < hi; ++r) {
              if (const uint32_t mask = static_cast<uint32_t>(keep(c, r))) buf.push_back({c.time[r], c.event[r], r, &c, p, mask});
            }
          }
        }
        if (buf.empty()) continue;
        // Each run is in order already: merge them (ties in time in arrival order: older parts
        // first, then the order within a part), the last two first.
        auto before = [](const PersonEvent& a, const PersonEvent& b) {
          if (a.time != b.time) return a.time < b.time;
          if (a.part != b.part) return a.part < b.part;
          return a.cols->Arrival(a.row) < b.cols->Arrival(b.row);
        };
        while (runs.size() > 1 && runs.back() >= buf.size()) runs.pop_back();  // runs that kept nothing
        for (size_t k = runs.size(); k-- > 1;) {
          std::inplace_merge(buf.begin() + static_cast<std::ptrdiff_t>(runs[k - 1]), buf.begin() + static_cast<std::ptrdiff_t>(runs[k]),
                             buf.end(), before);
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
