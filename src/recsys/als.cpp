#include "recsys/als.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "common/parallel_for.hpp"

namespace aimass::recsys {

namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXf;

Eigen::Map<const Mat> View(const Factors& f) { return {f.data.data(), static_cast<Eigen::Index>(f.rows), static_cast<Eigen::Index>(f.dim)}; }

// One sweep over `rows`: each row's factors x move a few CG steps towards the solution of
// (YᵀY + λI + Σ (c−1) y yᵀ) x = Σ c y, starting from where they are. The row's item factors are
// gathered into a small matrix first, so that each step is two matrix-vector products.
void Sweep(const Csr& m, const Factors& other, Factors& self, const AlsOptions& o) {
  const auto Y = View(other);
  Mat yty = Y.transpose() * Y;
  yty.diagonal().array() += o.regularization;
  const Eigen::Index f = static_cast<Eigen::Index>(self.dim);
  const int workers = std::max(1, o.threads);
  std::vector<Mat> gathered(workers);
  std::vector<Vec> conf(workers);
  ParallelFor(m.rows, o.threads, [&](size_t row, size_t w) {
    Eigen::Map<Vec> x(self.Row(row), f);
    const auto cols = m.Columns(row);
    const auto vals = m.Values(row);
    const Eigen::Index n = static_cast<Eigen::Index>(cols.size());
    Mat& yr = gathered[w];
    Vec& c1 = conf[w];  // c − 1 per item of the row
    yr.resize(n, f);
    c1.resize(n);
    for (Eigen::Index k = 0; k < n; ++k) {
      yr.row(k) = Eigen::Map<const Vec>(other.Row(cols[k]), f).transpose();
      c1[k] = AlsConfidence(vals[k], o.alpha) - 1;
    }
    // r = Σ c y − (YᵀY + λI) x − Σ (c−1) (y·x) y
    Vec r = yr.transpose() * (c1.array() + 1 - c1.array() * (yr * x).array()).matrix() - yty * x;
    Vec p = r, ap(f);
    float rs = r.squaredNorm();
    for (int step = 0; step < o.cg_steps && rs > 1e-20f; ++step) {
      ap.noalias() = yty * p + yr.transpose() * (c1.array() * (yr * p).array()).matrix();
      const float a = rs / p.dot(ap);
      x += a * p;
      r -= a * ap;
      const float next = r.squaredNorm();
      p = r + (next / rs) * p;
      rs = next;
    }
  });
}

Factors Random(size_t rows, size_t dim, std::mt19937_64& rng) {
  Factors f;
  f.rows = rows;
  f.dim = dim;
  f.data.resize(rows * dim);
  std::normal_distribution<float> normal(0.f, 0.01f);
  for (float& v : f.data) v = normal(rng);
  return f;
}

}  // namespace

float AlsConfidence(float weight, float alpha) { return 1.f + alpha * std::log1p(std::max(weight, 0.f)); }

Factors TrainAls(const Csr& user_items, const AlsOptions& o, Factors* users) {
  std::mt19937_64 rng(o.seed);
  Factors u = Random(user_items.rows, o.factors, rng);
  Factors i = Random(user_items.cols, o.factors, rng);
  const Csr item_users = user_items.Transposed();
  for (int it = 0; it < o.iterations; ++it) {
    Sweep(user_items, i, u, o);
    Sweep(item_users, u, i, o);
  }
  if (users) *users = std::move(u);
  return i;
}

std::vector<float> Gram(const Factors& items) {
  std::vector<float> out(items.dim * items.dim);
  Eigen::Map<Mat> g(out.data(), static_cast<Eigen::Index>(items.dim), static_cast<Eigen::Index>(items.dim));
  const auto Y = View(items);
  g.noalias() = Y.transpose() * Y;
  return out;
}

void FoldInAls(const Factors& items, std::span<const float> gram, float regularization, float alpha,
               std::span<const uint32_t> history, std::span<const float> weights, float* out) {
  const Eigen::Index f = static_cast<Eigen::Index>(items.dim);
  Eigen::Map<Vec> x(out, f);
  if (history.empty() || items.rows == 0) {
    x.setZero();
    return;
  }
  Mat a = Eigen::Map<const Mat>(gram.data(), f, f);
  a.diagonal().array() += regularization;
  // The history's rows gathered, so that Σ (c−1) y yᵀ is one matrix product.
  const Eigen::Index n = static_cast<Eigen::Index>(history.size());
  Mat yh(n, f);
  Vec c(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    yh.row(k) = Eigen::Map<const Vec>(items.Row(history[k]), f).transpose();
    c[k] = AlsConfidence(weights[k], alpha);
  }
  a.noalias() += yh.transpose() * (c.array() - 1).matrix().asDiagonal() * yh;
  const Vec b = yh.transpose() * c;
  x = a.ldlt().solve(b);
}

}  // namespace aimass::recsys
