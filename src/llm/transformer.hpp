// Transformer: one forward pass of a Llama-family decoder over a batch of sequences, each
// contributing any number of new tokens (a prompt being filled, or one decoded token), as one
// flat matrix of tokens for the projections (vLLM's flattened batch). Keys and values go to
// the paged KV cache; attention reads each sequence's blocks.
#pragma once

#include <cstdint>
#include <vector>

#include "llm/kv_cache.hpp"
#include "llm/model_config.hpp"
#include "llm/weights.hpp"
#include "llm/worker_pool.hpp"

namespace aimass::llm {

// One sequence's part of a batch.
struct BatchSegment {
  const std::vector<int64_t>* blocks = nullptr;  // its block table, with room for every new position
  int64_t start = 0;                             // position of its first new token
  const int* tokens = nullptr;
  int64_t count = 0;
  bool logits = false;  // wants the logits after its last token
};

class Transformer {
 public:
  Transformer(const ModelConfig& config, const Weights& weights, KvCache& cache, WorkerPool& pool);

  // Runs the batch. `logits` gets [segments that want them, vocab], in batch order.
  void Forward(const std::vector<BatchSegment>& batch, std::vector<float>& logits);

 private:
  void Attention(int64_t layer, int64_t tokens);

  const ModelConfig& c_;
  const Weights& w_;
  KvCache& cache_;
  WorkerPool& pool_;
  std::vector<float> inv_freq_;
  // Scratch, grown to the largest batch seen.
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_, cos_, sin_, last_;
  std::vector<int64_t> pos_;
  std::vector<const BatchSegment*> seg_;
};

}  // namespace aimass::llm
