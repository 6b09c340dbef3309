#include "llm/kernels.hpp"

#include <algorithm>
#include <cmath>

namespace aimass::llm {

namespace {

// Sixteen floats, loaded from any address.
typedef float V16 __attribute__((vector_size(64), aligned(4)));
typedef int8_t V16I8 __attribute__((vector_size(16), aligned(1)));

#define AIMASS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define AIMASS_INLINE __attribute__((always_inline)) inline

AIMASS_INLINE V16 Load(const float* p) { return *reinterpret_cast<const V16*>(p); }
AIMASS_INLINE V16 Load(const int8_t* p) { return __builtin_convertvector(*reinterpret_cast<const V16I8*>(p), V16); }

AIMASS_INLINE float Sum(V16 v) {
  float s = 0;
  for (int i = 0; i < 16; ++i) s += v[i];
  return s;
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
AIMASS_INLINE void TileStore(const Linear& L, const Q* w, int64_t row, const float* x, int64_t t0, float* y) {
  float out[R][TT];
  Tile<R, TT>(w + row * L.in, L.in, x + t0 * L.in, L.in, out);
  for (int r = 0; r < R; ++r) {
    const float s = L.scale ? L.scale[row + r] : 1.0f;
    const float b = L.bias ? L.bias[row + r] : 0.0f;
    for (int t = 0; t < TT; ++t) y[(t0 + t) * L.out + row + r] = out[r][t] * s + b;
  }
}

template <int R, typename Q>
AIMASS_INLINE void RowsBlock(const Linear& L, const Q* w, int64_t row, const float* x, int64_t t0, int64_t t1, float* y) {
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) TileStore<R, 4>(L, w, row, x, t, y);
  switch (t1 - t) {
    case 3: TileStore<R, 3>(L, w, row, x, t, y); break;
    case 2: TileStore<R, 2>(L, w, row, x, t, y); break;
    case 1: TileStore<R, 1>(L, w, row, x, t, y); break;
    default: break;
  }
}

template <typename Q>
AIMASS_INLINE void BlockOf(const Linear& L, const Q* w, int64_t r0, int64_t r1, const float* x, int64_t t0, int64_t t1,
                           float* y) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) RowsBlock<4>(L, w, r, x, t0, t1, y);
  for (; r < r1; ++r) RowsBlock<1>(L, w, r, x, t0, t1, y);
}

AIMASS_CLONES void Block(const Linear& L, int64_t r0, int64_t r1, const float* x, int64_t t0, int64_t t1, float* y) {
  if (L.q) BlockOf(L, L.q, r0, r1, x, t0, t1, y);
  else BlockOf(L, L.w, r0, r1, x, t0, t1, y);
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

AIMASS_CLONES float Dot(const float* a, const float* b, int64_t n) {
  V16 acc = V16{};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc += Load(a + i) * Load(b + i);
  float s = Sum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

AIMASS_CLONES void Axpy(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    V16 yv = Load(y + i) + a * Load(x + i);
    *reinterpret_cast<V16*>(y + i) = yv;
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace aimass::llm
