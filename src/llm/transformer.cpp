#include "llm/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "llm/kernels.hpp"

namespace aimass::llm {

Transformer::Transformer(const ModelConfig& config, const Weights& weights, KvCache& cache, WorkerPool& pool)
    : c_(config), w_(weights), cache_(cache), pool_(pool) {
  // As Hugging Face computes them, in float: base ** (2i / dim).
  const int64_t half = c_.head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    inv_freq_.push_back(1.0f / std::pow(static_cast<float>(c_.rope_theta),
                                        static_cast<float>(2 * i) / static_cast<float>(c_.head_dim)));
  }
}

void Transformer::Forward(const std::vector<BatchSegment>& batch, std::vector<float>& logits) {
  const int64_t H = c_.hidden_size, hd = c_.head_dim, half = hd / 2;
  const int64_t qdim = c_.num_attention_heads * hd, kvdim = c_.num_key_value_heads * hd;
  int64_t T = 0, wanted = 0;
  for (const auto& s : batch) {
    T += s.count;
    wanted += s.logits ? 1 : 0;
  }
  auto grow = [](std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  };
  grow(x_, T * H), grow(h_, T * H), grow(q_, T * qdim), grow(k_, T * kvdim), grow(v_, T * kvdim);
  grow(att_, T * qdim), grow(gate_, T * c_.intermediate_size), grow(up_, T * c_.intermediate_size);
  grow(cos_, T * half), grow(sin_, T * half);
  pos_.resize(static_cast<size_t>(T));
  seg_.resize(static_cast<size_t>(T));

  int64_t t = 0;
  for (const auto& s : batch) {
    for (int64_t i = 0; i < s.count; ++i, ++t) {
      pos_[t] = s.start + i;
      seg_[t] = &s;
      std::memcpy(&x_[t * H], w_.embed() + static_cast<int64_t>(s.tokens[i]) * H, H * sizeof(float));
      for (int64_t j = 0; j < half; ++j) {
        const float angle = static_cast<float>(pos_[t]) * inv_freq_[j];
        cos_[t * half + j] = std::cos(angle);
        sin_[t * half + j] = std::sin(angle);
      }
    }
  }

  for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
    const LayerWeights& L = w_.layers()[l];
    pool_.Run(T, [&](int64_t i) { RmsNorm(&x_[i * H], L.input_norm, c_.rms_norm_eps, H, &h_[i * H]); });
    MatMul(pool_, L.q, h_.data(), T, q_.data());
    MatMul(pool_, L.k, h_.data(), T, k_.data());
    MatMul(pool_, L.v, h_.data(), T, v_.data());
    // Rotary embeddings, then the new keys and values into their blocks.
    pool_.Run(T, [&](int64_t i) {
      Rope(&q_[i * qdim], c_.num_attention_heads, hd, &cos_[i * half], &sin_[i * half]);
      Rope(&k_[i * kvdim], c_.num_key_value_heads, hd, &cos_[i * half], &sin_[i * half]);
      const int64_t p = pos_[i], bt = cache_.block_tokens();
      const int64_t block = (*seg_[i]->blocks)[p / bt], slot = p % bt;
      for (int64_t h = 0; h < c_.num_key_value_heads; ++h) {
        std::memcpy(cache_.Key(block, l, h, slot), &k_[i * kvdim + h * hd], hd * sizeof(float));
        std::memcpy(cache_.Value(block, l, h, slot), &v_[i * kvdim + h * hd], hd * sizeof(float));
      }
    });
    Attention(l, T);
    MatMul(pool_, L.o, att_.data(), T, h_.data());
    pool_.Run(T, [&](int64_t i) {
      for (int64_t j = 0; j < H; ++j) x_[i * H + j] += h_[i * H + j];
      RmsNorm(&x_[i * H], L.post_attention_norm, c_.rms_norm_eps, H, &h_[i * H]);
    });
    MatMul(pool_, L.gate, h_.data(), T, gate_.data());
    MatMul(pool_, L.up, h_.data(), T, up_.data());
    const int64_t I = c_.intermediate_size;
    pool_.Run(T, [&](int64_t i) { SwiGlu(&gate_[i * I], &up_[i * I], I); });
    MatMul(pool_, L.down, gate_.data(), T, h_.data());
    pool_.Run(T, [&](int64_t i) {
      for (int64_t j = 0; j < H; ++j) x_[i * H + j] += h_[i * H + j];
    });
  }

  // The final norm and the head, only for the tokens whose next token is wanted.
  grow(last_, std::max<int64_t>(1, wanted) * H);
  int64_t row = 0;
  t = 0;
  for (const auto& s : batch) {
    t += s.count;
    if (!s.logits) continue;
    RmsNorm(&x_[(t - 1) * H], w_.norm(), c_.rms_norm_eps, H, &last_[row * H]);
    ++row;
  }
  logits.resize(static_cast<size_t>(wanted * c_.vocab_size));
  if (wanted > 0) MatMul(pool_, w_.lm_head(), last_.data(), wanted, logits.data());
}

void Transformer::Attention(int64_t layer, int64_t tokens) {
  const int64_t hd = c_.head_dim, heads = c_.num_attention_heads;
  const int64_t group = heads / c_.num_key_value_heads;
  const int64_t qdim = heads * hd;
  pool_.Run(tokens * heads, [&](int64_t item) {
    const int64_t i = item / heads, h = item % heads, kvh = h / group;
    const int64_t p = pos_[i];
    KvView kv;
    kv.base = cache_.base();
    kv.block_floats = cache_.block_floats();
    kv.block_tokens = cache_.block_tokens();
    kv.head_dim = hd;
    kv.key_offset = cache_.KeyOffset(layer, kvh);
    kv.value_offset = cache_.ValueOffset(layer, kvh);
    thread_local std::vector<float> scores;
    if (static_cast<int64_t>(scores.size()) < p + 1) scores.resize(static_cast<size_t>(p + 1));
    Attend(&q_[i * qdim + h * hd], seg_[i]->blocks->data(), p + 1, kv, scores.data(), &att_[i * qdim + h * hd]);
  });
}

}  // namespace aimass::llm
