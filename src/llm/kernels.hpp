// The arithmetic of a decoder step: projections (a blocked matrix product over all threads,
// F32 or int8 weights), RMSNorm, rotary embeddings, SwiGLU, softmax. Built -O3 with clones
// for AVX-512 and AVX2 picked at run time (GCC's target_clones), so one binary runs anywhere.
#pragma once

#include <cstdint>

#include "llm/weights.hpp"
#include "llm/worker_pool.hpp"

namespace aimass::llm {

// Y[t, :] = W X[t, :] (+ b) for t in [0, T): X is [T, in], Y is [T, out], rows contiguous.
void MatMul(WorkerPool& pool, const Linear& w, const float* x, int64_t tokens, float* y);

// out = x / rms(x) * weight, over `n` values.
void RmsNorm(const float* x, const float* weight, double eps, int64_t n, float* out);

// Rotates each head's halves (Hugging Face's rotate_half convention) by `cos`/`sin` of one
// position (head_dim / 2 values each).
void Rope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);

// a = silu(gate) * up, over `n` values (in place in gate).
void SwiGlu(float* gate, const float* up, int64_t n);

// Where one head's keys and values lie in the paged cache (see KvCache): position j's key is
// at base + blocks[j / block_tokens] * block_floats + key_offset + (j % block_tokens) * head_dim.
struct KvView {
  const float* base = nullptr;
  int64_t block_floats = 0, block_tokens = 0, head_dim = 0;
  int64_t key_offset = 0, value_offset = 0;
};

// One query's attention over positions [0, n): out = softmax(q·k / sqrt(d)) · v. `scores`
// holds n floats. The dot products are inlined here (a call per position cost more than it).
void Attend(const float* q, const int64_t* blocks, int64_t n, const KvView& kv, float* scores, float* out);

}  // namespace aimass::llm
