#include "llm/kv_cache.hpp"

#include <algorithm>

namespace aimass::llm {

KvCache::KvCache(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t block_tokens, int64_t budget_bytes)
    : layers_(layers), kv_heads_(kv_heads), head_dim_(head_dim), block_tokens_(block_tokens) {
  block_floats_ = layers * 2 * kv_heads * block_tokens * head_dim;
  blocks_ = std::max<int64_t>(1, budget_bytes / (block_floats_ * 4));
  // Pages are touched only when a block is first written: an idle budget costs address space.
  data_.reset(new float[static_cast<size_t>(blocks_ * block_floats_)]);
  free_.reserve(static_cast<size_t>(blocks_));
  for (int64_t b = blocks_ - 1; b >= 0; --b) free_.push_back(b);
}

int64_t KvCache::Allocate() {
  if (free_.empty()) return -1;
  const int64_t b = free_.back();
  free_.pop_back();
  return b;
}

void KvCache::Free(int64_t block) { free_.push_back(block); }

}  // namespace aimass::llm
