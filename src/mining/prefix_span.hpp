// Frequent sequences by PrefixSpan (Pei et al. 2001): patterns of items that occur in this
// order, not necessarily next to each other, in at least min_support of the sequences (each
// sequence counted once). Grown one item at a time over pseudo-projections (where each
// sequence's earliest match of the prefix ends), so no candidate is ever generated.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "common/status.hpp"

namespace aimass::mining {

struct SequencePattern {
  std::vector<uint32_t> items;  // in order
  uint64_t count = 0;           // sequences that contain it
};

struct SequenceOptions {
  double min_support = 0.01;
  size_t max_length = 5;  // 0: any length
  size_t max_patterns = 2'000'000;
  // Only items next to each other (a path of pages, not a story of them).
  bool contiguous = false;
  const std::atomic<bool>* stop = nullptr;
};

Result<std::vector<SequencePattern>> PrefixSpan(const std::vector<std::vector<uint32_t>>& sequences, const SequenceOptions& o);

}  // namespace aimass::mining
