#include "mining/silhouette.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "common/cpus.hpp"
#include "common/parallel_for.hpp"

namespace aimass::mining {

std::optional<double> Silhouette(const Points& p, const std::vector<int>& labels, size_t sample, uint64_t seed, int threads) {
  std::vector<size_t> rows;
  for (size_t i = 0; i < p.n; ++i) {
    if (labels[i] >= 0) rows.push_back(i);
  }
  if (sample > 0 && rows.size() > sample) {
    std::mt19937_64 rng(seed);
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(sample);
  }
  // Clusters numbered densely within the sample.
  std::map<int, int> dense;
  for (size_t r : rows) dense.emplace(labels[r], 0);
  if (dense.size() < 2) return std::nullopt;
  int next = 0;
  for (auto& [label, id] : dense) id = next++;
  const size_t m = rows.size(), k = dense.size();
  std::vector<int> cluster(m);
  std::vector<double> size(k, 0);
  for (size_t i = 0; i < m; ++i) size[static_cast<size_t>(cluster[i] = dense[labels[rows[i]]])] += 1;
  std::vector<double> s(m, 0.0);
  ParallelFor(m, threads > 0 ? threads : UsableCpus(), [&](size_t i, size_t) {
    std::vector<double> total(k, 0.0);
    const double* a = p.row(rows[i]);
    for (size_t j = 0; j < m; ++j) total[static_cast<size_t>(cluster[j])] += std::sqrt(SquaredDistance(a, p.row(rows[j]), p.d));
    const size_t own = static_cast<size_t>(cluster[i]);
    if (size[own] <= 1) return;  // a cluster of one: 0
    const double in = total[own] / (size[own] - 1);
    double out = INFINITY;
    for (size_t c = 0; c < k; ++c) {
      if (c != own) out = std::min(out, total[c] / size[c]);
    }
    const double denom = std::max(in, out);
    s[i] = denom > 0 ? (out - in) / denom : 0.0;
  });
  double sum = 0;
  for (double v : s) sum += v;
  return sum / static_cast<double>(m);
}

}  // namespace aimass::mining
