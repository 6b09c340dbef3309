#include "recsys/bpr.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <thread>

namespace aimass::recsys {

namespace {

float Dot(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

float Sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

}  // namespace

void TrainBpr(const Csr& m, const BprOptions& o, Factors& items, std::vector<float>& bias) {
  const size_t dim = o.factors;
  std::mt19937_64 init(o.seed);
  std::normal_distribution<float> normal(0.f, 0.01f);
  Factors users;
  users.rows = m.rows;
  users.dim = dim;
  users.data.resize(m.rows * dim);
  for (float& v : users.data) v = normal(init);
  items.rows = m.cols;
  items.dim = dim;
  items.data.resize(m.cols * dim);
  for (float& v : items.data) v = normal(init);
  bias.assign(m.cols, 0.f);
  if (m.nnz() == 0 || m.cols < 2) return;
  // Each nonzero's row, so that a sample is a uniformly drawn (user, item) pair.
  std::vector<uint32_t> row_of(m.nnz());
  for (size_t u = 0; u < m.rows; ++u) {
    for (uint64_t k = m.indptr[u]; k < m.indptr[u + 1]; ++k) row_of[k] = static_cast<uint32_t>(u);
  }
  const int workers = std::max(1, o.threads);
  for (int epoch = 0; epoch < o.epochs; ++epoch) {
    const float lr = o.learning_rate;
    const size_t per_worker = m.nnz() / workers + 1;
    auto work = [&](size_t w) {
      std::mt19937_64 rng(o.seed + 7919 * (epoch * workers + w + 1));
      std::uniform_int_distribution<uint64_t> pick(0, m.nnz() - 1);
      std::uniform_int_distribution<uint32_t> any(0, static_cast<uint32_t>(m.cols - 1));
      std::vector<float> grad(dim);
      for (size_t s = 0; s < per_worker; ++s) {
        const uint64_t k = pick(rng);
        const uint32_t u = row_of[k], i = m.indices[k];
        const auto liked = m.Columns(u);
        uint32_t j = any(rng);
        // A negative the user has not chosen (a few tries: dense rows are rare).
        for (int t = 0; t < 8 && std::binary_search(liked.begin(), liked.end(), j); ++t) j = any(rng);
        if (j == i) continue;
        float* wu = users.Row(u);
        float* hi = items.Row(i);
        float* hj = items.Row(j);
        const float x = bias[i] - bias[j] + Dot(wu, hi, dim) - Dot(wu, hj, dim);
        const float g = Sigmoid(-x);
        for (size_t f = 0; f < dim; ++f) {
          const float wf = wu[f];
          wu[f] += lr * (g * (hi[f] - hj[f]) - o.regularization * wf);
          hi[f] += lr * (g * wf - o.regularization * hi[f]);
          hj[f] += lr * (-g * wf - o.regularization * hj[f]);
        }
        bias[i] += lr * (g - o.regularization * bias[i]);
        bias[j] += lr * (-g - o.regularization * bias[j]);
      }
    };
    std::vector<std::thread> pool;
    for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
    work(0);
    for (auto& t : pool) t.join();
  }
}

void FoldInBpr(const Factors& items, std::span<const float> bias, float regularization, std::span<const uint32_t> history,
               float* out) {
  const size_t dim = items.dim;
  std::fill(out, out + dim, 0.f);
  if (history.empty() || items.rows < 2) return;
  std::vector<uint32_t> liked(history.begin(), history.end());
  std::sort(liked.begin(), liked.end());
  std::mt19937_64 rng(liked.size() * 2654435761u + liked.front());
  std::uniform_int_distribution<uint32_t> any(0, static_cast<uint32_t>(items.rows - 1));
  // Start from the mean of the liked items' factors, then refine by the usual updates.
  for (uint32_t i : liked) {
    for (size_t f = 0; f < dim; ++f) out[f] += items.Row(i)[f] / liked.size();
  }
  // About 2,000 updates in all (at least 3 passes, at most 20): a long history needs fewer passes.
  const int passes = std::clamp(static_cast<int>(2000 / liked.size()), 3, 20);
  constexpr float kRate = 0.05f;
  for (int pass = 0; pass < passes; ++pass) {
    for (uint32_t i : liked) {
      uint32_t j = any(rng);
      for (int t = 0; t < 8 && std::binary_search(liked.begin(), liked.end(), j); ++t) j = any(rng);
      if (j == i) continue;
      const float* hi = items.Row(i);
      const float* hj = items.Row(j);
      const float g = Sigmoid(-(bias[i] - bias[j] + Dot(out, hi, dim) - Dot(out, hj, dim)));
      for (size_t f = 0; f < dim; ++f) out[f] += kRate * (g * (hi[f] - hj[f]) - regularization * out[f]);
    }
  }
}

}  // namespace aimass::recsys
