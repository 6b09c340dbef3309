#include "analysis/agreement.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace aimass::analysis {

std::optional<double> CohensKappa(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const size_t n = std::min(a.size(), b.size());
  if (n == 0) return std::nullopt;
  std::map<std::string, double> fa, fb;
  double same = 0;
  for (size_t i = 0; i < n; ++i) {
    same += a[i] == b[i];
    fa[a[i]] += 1;
    fb[b[i]] += 1;
  }
  const double po = same / static_cast<double>(n);
  double pe = 0;
  for (const auto& [label, c] : fa) {
    auto it = fb.find(label);
    if (it != fb.end()) pe += (c / static_cast<double>(n)) * (it->second / static_cast<double>(n));
  }
  if (pe >= 1) return 1.0;
  return (po - pe) / (1 - pe);
}

std::optional<Fleiss> FleissKappa(const std::vector<std::vector<std::string>>& labels) {
  std::map<size_t, size_t> counts;
  for (const auto& l : labels) {
    if (l.size() >= 2) counts[l.size()]++;
  }
  if (counts.empty()) return std::nullopt;
  // The most common number of raters (the larger on a tie).
  size_t n = 0, best = 0;
  for (const auto& [raters, items] : counts) {
    if (items >= best) best = items, n = raters;
  }
  std::set<std::string> cats;
  for (const auto& l : labels) {
    if (l.size() == n) cats.insert(l.begin(), l.end());
  }
  std::map<std::string, size_t> index;
  for (const auto& c : cats) index.emplace(c, index.size());
  const size_t k = index.size();
  std::vector<std::vector<double>> nij;
  for (const auto& l : labels) {
    if (l.size() != n) continue;
    std::vector<double> row(k, 0);
    for (const auto& x : l) row[index[x]] += 1;
    nij.push_back(std::move(row));
  }
  const double N = static_cast<double>(nij.size()), dn = static_cast<double>(n);
  std::vector<double> p(k, 0);
  double pbar = 0;
  for (const auto& row : nij) {
    double agree = 0;
    for (size_t j = 0; j < k; ++j) {
      p[j] += row[j];
      agree += row[j] * (row[j] - 1);
    }
    pbar += agree / (dn * (dn - 1));
  }
  pbar /= N;
  double pe = 0;
  for (auto& pj : p) {
    pj /= N * dn;
    pe += pj * pj;
  }
  Fleiss f;
  f.items = nij.size();
  f.raters = n;
  f.kappa = pe >= 1 ? 1.0 : (pbar - pe) / (1 - pe);
  for (const auto& [label, j] : index) {
    double s = 0;
    for (const auto& row : nij) s += row[j] * (dn - row[j]);
    const double denom = N * dn * (dn - 1) * p[j] * (1 - p[j]);
    f.per_label[label] = denom > 0 ? 1 - s / denom : 1.0;
  }
  return f;
}

}  // namespace aimass::analysis
