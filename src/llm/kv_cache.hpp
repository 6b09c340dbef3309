// KvCache: the keys and values of every running sequence, in fixed-size blocks of tokens
// taken from one pool sized by a memory budget (PagedAttention's idea): a sequence holds a
// table of the blocks it has filled so far, never a reservation of its whole context, and
// gives them back the moment it ends or its client goes away.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.hpp"

namespace aimass::llm {

class KvCache {
 public:
  // `budget_bytes` split into blocks of `block_tokens` tokens for `layers` layers of
  // `kv_heads` × `head_dim` keys and values each (F32).
  KvCache(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t block_tokens, int64_t budget_bytes);

  int64_t block_tokens() const { return block_tokens_; }
  int64_t blocks() const { return blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t used_blocks() const { return blocks_ - free_blocks(); }
  int64_t bytes_per_block() const { return block_floats_ * 4; }

  // A block, or -1 when none is free.
  int64_t Allocate();
  void Free(int64_t block);

  // Where token `slot` (in [0, block_tokens)) of `block` keeps layer `layer`'s key (or value)
  // for head `head`: head_dim floats.
  float* Key(int64_t block, int64_t layer, int64_t head, int64_t slot) {
    return data_.get() + block * block_floats_ + ((layer * 2) * kv_heads_ + head) * block_tokens_ * head_dim_ + slot * head_dim_;
  }
  // The view attention reads one head of one layer through (llm/kernels.hpp's KvView).
  const float* base() const { return data_.get(); }
  int64_t block_floats() const { return block_floats_; }
  int64_t KeyOffset(int64_t layer, int64_t head) const { return ((layer * 2) * kv_heads_ + head) * block_tokens_ * head_dim_; }
  int64_t ValueOffset(int64_t layer, int64_t head) const {
    return ((layer * 2 + 1) * kv_heads_ + head) * block_tokens_ * head_dim_;
  }
  float* Value(int64_t block, int64_t layer, int64_t head, int64_t slot) {
    return data_.get() + block * block_floats_ + ((layer * 2 + 1) * kv_heads_ + head) * block_tokens_ * head_dim_ +
           slot * head_dim_;
  }

 private:
  int64_t layers_, kv_heads_, head_dim_, block_tokens_;
  int64_t block_floats_ = 0;
  int64_t blocks_ = 0;
  std::unique_ptr<float[]> data_;
  std::vector<int64_t> free_;
};

}  // namespace aimass::llm
