#include "mining/isolation_forest.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_map>

#include "common/cpus.hpp"
#include "common/parallel_for.hpp"

namespace aimass::mining {

double AveragePathLength(double n) {
  if (n <= 1) return 0;
  if (n <= 2) return 1;
  constexpr double kEuler = 0.5772156649015329;
  return 2.0 * (std::log(n - 1.0) + kEuler) - 2.0 * (n - 1.0) / n;
}

namespace {

// Grows a tree over rows[from, to) at `depth`; returns the node's index.
int32_t Grow(const Points& p, std::vector<size_t>& rows, size_t from, size_t to, int depth, int limit, std::mt19937_64& rng,
             std::vector<int32_t>& features, auto& tree) {
  const int32_t id = static_cast<int32_t>(tree.size());
  tree.emplace_back();
  tree[static_cast<size_t>(id)].size = static_cast<double>(to - from);
  if (depth >= limit || to - from <= 1) return id;
  // A feature drawn at random among those not constant here (scikit-learn's random splitter
  // skips constant ones too); none left: a leaf.
  std::shuffle(features.begin(), features.end(), rng);
  for (int32_t f : features) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = from; i < to; ++i) {
      const double v = p.x[rows[i] * p.d + static_cast<size_t>(f)];
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (!(hi > lo)) continue;
    double split = std::uniform_real_distribution<double>(lo, hi)(rng);
    if (split <= lo) split = std::nextafter(lo, hi);  // both sides non-empty
    auto mid = std::partition(rows.begin() + static_cast<std::ptrdiff_t>(from), rows.begin() + static_cast<std::ptrdiff_t>(to),
                              [&](size_t r) { return p.x[r * p.d + static_cast<size_t>(f)] < split; });
    const size_t m = static_cast<size_t>(mid - rows.begin());
    tree[static_cast<size_t>(id)].feature = f;
    tree[static_cast<size_t>(id)].split = split;
    // Grow may reallocate the tree: the children's indices are stored after it returns.
    const int32_t left = Grow(p, rows, from, m, depth + 1, limit, rng, features, tree);
    const int32_t right = Grow(p, rows, m, to, depth + 1, limit, rng, features, tree);
    tree[static_cast<size_t>(id)].left = left;
    tree[static_cast<size_t>(id)].right = right;
    return id;
  }
  return id;
}

}  // namespace

Result<IsolationForest> IsolationForest::Fit(const Points& p, const IsolationForestOptions& o) {
  if (o.trees < 1) return Status::BadRequest("trees must be at least 1");
  if (o.max_samples < 2) return Status::BadRequest("max_samples must be at least 2");
  if (p.n < 2) return Status::BadRequest("an isolation forest needs at least 2 points");
  if (p.d == 0) return Status::BadRequest("the points have no dimensions");
  IsolationForest forest;
  const size_t psi = std::min(p.n, o.max_samples);
  const int limit = static_cast<int>(std::ceil(std::log2(static_cast<double>(psi))));
  forest.c_ = AveragePathLength(static_cast<double>(psi));
  forest.trees_.resize(static_cast<size_t>(o.trees));
  ParallelFor(forest.trees_.size(), o.threads > 0 ? o.threads : UsableCpus(), [&](size_t t, size_t) {
    if (Stopped(o.stop)) return;
    std::mt19937_64 rng(o.seed * 1000003ULL + t);
    // ψ distinct points (a partial Fisher-Yates over indices drawn lazily).
    std::vector<size_t> rows;
    if (psi == p.n) {
      for (size_t i = 0; i < p.n; ++i) rows.push_back(i);
    } else {
      std::unordered_map<size_t, size_t> swapped;
      for (size_t i = 0; i < psi; ++i) {
        const size_t j = std::uniform_int_distribution<size_t>(i, p.n - 1)(rng);
        const size_t vi = swapped.count(i) ? swapped[i] : i, vj = swapped.count(j) ? swapped[j] : j;
        swapped[j] = vi;
        rows.push_back(vj);
      }
    }
    std::vector<int32_t> features(p.d);
    for (size_t f = 0; f < p.d; ++f) features[f] = static_cast<int32_t>(f);
    Grow(p, rows, 0, rows.size(), 0, limit, rng, features, forest.trees_[t]);
  });
  if (Stopped(o.stop)) return Status::Conflict("stopped");
  return forest;
}

double IsolationForest::PathLength(const Tree& t, const double* x) const {
  int32_t at = 0;
  double depth = 0;
  while (t[static_cast<size_t>(at)].feature >= 0) {
    const Node& n = t[static_cast<size_t>(at)];
    at = x[n.feature] < n.split ? n.left : n.right;
    depth += 1;
  }
  return depth + AveragePathLength(t[static_cast<size_t>(at)].size);
}

std::vector<double> IsolationForest::Score(const Points& p, int threads) const {
  std::vector<double> out(p.n);
  ParallelFor(p.n, threads > 0 ? threads : UsableCpus(), [&](size_t i, size_t) {
    double total = 0;
    for (const auto& t : trees_) total += PathLength(t, p.row(i));
    const double mean = total / static_cast<double>(trees_.size());
    out[i] = c_ > 0 ? std::pow(2.0, -mean / c_) : 0.5;
  });
  return out;
}

}  // namespace aimass::mining
