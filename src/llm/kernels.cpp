#include "llm/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <immintrin.h>
#include <vector>

namespace aimass::llm {

namespace {

// Sixteen floats, loaded from any address.
typedef float V16 __attribute__((vector_size(64), aligned(4)));
typedef float V8 __attribute__((vector_size(32)));
typedef float V4 __attribute__((vector_size(16)));

#define AIMASS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define AIMASS_INLINE __attribute__((always_inline)) inline

AIMASS_INLINE V16 Load(const float* p) { return *reinterpret_cast<const V16*>(p); }

// A tree of halves: four vector adds instead of fifteen dependent scalar ones.
AIMASS_INLINE float Sum(V16 v) {
  const V8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const V4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

// R rows of W against TT tokens of X: out[r][t] = W[r] · X[t]. W rows are F32 or int8 (`Q`).
template <int R, int TT, typename Q>
AIMASS_INLINE void Tile(const Q* w, int64_t in, const float* x, int64_t ldx, float out[R][TT]) {
  V16 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TT; ++t) acc[r][t] = V16{};
  int64_t i = 0;
  for (; i + 16 <= in; i += 16) {
    V16 xv[TT];
    for (int t = 0; t < TT; ++t) xv[t] = Load(x + t * ldx + i);
    for (int r = 0; r < R; ++r) {
      const V16 wv = Load(w + r * in + i);
      for (int t = 0; t < TT; ++t) acc[r][t] += wv * xv[t];
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int t = 0; t < TT; ++t) {
      float s = Sum(acc[r][t]);
      for (int64_t j = i; j < in; ++j) s += static_cast<float>(w[r * in + j]) * x[t * ldx + j];
      out[r][t] = s;
    }
  }
}

template <int R, int TT, typename Q>
AIMASS_INLINE void TileStore(const Linear& L, const Q* wrows, int64_t row, const float* x, int64_t t0, float* y) {
  float out[R][TT];
  Tile<R, TT>(wrows, L.in, x + t0 * L.in, L.in, out);
  for (int r = 0; r < R; ++r) {
    const float s = L.scale ? L.scale[row + r] : 1.0f;
    const float b = L.bias ? L.bias[row + r] : 0.0f;
    for (int t = 0; t < TT; ++t) y[(t0 + t) * L.out + row + r] = out[r][t] * s + b;
  }
}

// R weight rows (starting at `wrows`, output rows from `row`) against tokens [t0, t1).
template <int R, typename Q>
AIMASS_INLINE void RowsBlock(const Linear& L, const Q* wrows, int64_t row, const float* x, int64_t t0, int64_t t1, float* y) {
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) TileStore<R, 4>(L, wrows, row, x, t, y);
  switch (t1 - t) {
    case 3: TileStore<R, 3>(L, wrows, row, x, t, y); break;
    case 2: TileStore<R, 2>(L, wrows, row, x, t, y); break;
    case 1: TileStore<R, 1>(L, wrows, row, x, t, y); break;
    default: break;
  }
}

// int8 rows widened to floats, 16 (AVX-512) or 8 (AVX2) at a time with the instructions made for
// it: GCC 12 widens a vector of bytes element by element.
__attribute__((target("avx512f"))) void WidenAvx512(const int8_t* q, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + i)))));
  }
  for (; i < n; ++i) out[i] = q[i];
}

__attribute__((target("avx2"))) void WidenAvx2(const int8_t* q, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + i)))));
  }
  for (; i < n; ++i) out[i] = q[i];
}

void WidenPlain(const int8_t* q, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = q[i];
}

using WidenFn = void (*)(const int8_t*, int64_t, float*);
const WidenFn kWiden = __builtin_cpu_supports("avx512f") ? WidenAvx512 : __builtin_cpu_supports("avx2") ? WidenAvx2 : WidenPlain;

AIMASS_CLONES void Block(const Linear& L, int64_t r0, int64_t r1, const float* x, int64_t t0, int64_t t1, float* y) {
  if (!L.q) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) RowsBlock<4>(L, L.w + r * L.in, r, x, t0, t1, y);
    for (; r < r1; ++r) RowsBlock<1>(L, L.w + r * L.in, r, x, t0, t1, y);
    return;
  }
  // int8: four rows at a time widened into a buffer that stays in the cache, then as F32.
  thread_local std::vector<float> rows;
  if (static_cast<int64_t>(rows.size()) < 4 * L.in) rows.resize(static_cast<size_t>(4 * L.in));
  for (int64_t r = r0; r < r1; r += 4) {
    const int64_t n = std::min<int64_t>(4, r1 - r);
    kWiden(L.q + r * L.in, n * L.in, rows.data());
    if (n == 4) {
      RowsBlock<4>(L, rows.data(), r, x, t0, t1, y);
    } else {
      for (int64_t k = 0; k < n; ++k) RowsBlock<1>(L, rows.data() + k * L.in, r + k, x, t0, t1, y);
    }
  }
}

constexpr int64_t kTokenBlock = 64;

}  // namespace

void MatMul(WorkerPool& pool, const Linear& w, const float* x, int64_t tokens, float* y) {
  // Row blocks small enough that every thread gets several (decode), and token blocks that keep
  // a block of X in the cache while a row block passes over it (prefill).
  const int64_t threads = pool.threads();
  int64_t rows = (w.out + threads * 8 - 1) / (threads * 8);
  rows = std::clamp<int64_t>((rows + 3) / 4 * 4, 4, 64);
  const int64_t row_blocks = (w.out + rows - 1) / rows;
  const int64_t token_blocks = (tokens + kTokenBlock - 1) / kTokenBlock;
  pool.Run(row_blocks * token_blocks, [&](int64_t i) {
    const int64_t rb = i % row_blocks, tb = i / row_blocks;
    const int64_t r0 = rb * rows, r1 = std::min(w.out, r0 + rows);
    const int64_t t0 = tb * kTokenBlock, t1 = std::min(tokens, t0 + kTokenBlock);
    Block(w, r0, r1, x, t0, t1, y);
  });
}

void RmsNorm(const float* x, const float* weight, double eps, int64_t n, float* out) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

void Rope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * cos[i] - b * sin[i];
      v[i + half] = b * cos[i] + a * sin[i];
    }
  }
}

void SwiGlu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

AIMASS_CLONES void Attend(const float* q, const int64_t* blocks, int64_t n, const KvView& kv, float* scores,
                          float* out) {
  const int64_t hd = kv.head_dim, bt = kv.block_tokens;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  auto at = [&](int64_t j, int64_t offset) { return kv.base + blocks[j / bt] * kv.block_floats + offset + (j % bt) * hd; };
  float max = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float* k = at(j, kv.key_offset);
    V16 acc = V16{};
    int64_t i = 0;
    for (; i + 16 <= hd; i += 16) acc += Load(q + i) * Load(k + i);
    float s = Sum(acc);
    for (; i < hd; ++i) s += q[i] * k[i];
    scores[j] = s * scale;
    max = std::max(max, scores[j]);
  }
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - max);
    sum += scores[j];
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + hd, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const float* v = at(j, kv.value_offset);
    const float a = scores[j] * inv;
    int64_t i = 0;
    for (; i + 16 <= hd; i += 16) *reinterpret_cast<V16*>(out + i) = Load(out + i) + a * Load(v + i);
    for (; i < hd; ++i) out[i] += a * v[i];
  }
}

}  // namespace aimass::llm
