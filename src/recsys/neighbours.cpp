#include "recsys/neighbours.hpp"

#include <algorithm>
#include <cmath>

#include "common/parallel_for.hpp"

namespace aimass::recsys {

namespace {

void KeepBest(std::vector<std::pair<uint32_t, float>>& row, int k) {
  auto better = [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; };
  if (row.size() > static_cast<size_t>(k)) {
    std::nth_element(row.begin(), row.begin() + k, row.end(), better);
    row.resize(k);
  }
  std::sort(row.begin(), row.end(), better);
}

}  // namespace

Neighbours TopK(size_t rows, std::vector<std::vector<std::pair<uint32_t, float>>> rows_in, int k) {
  Neighbours n;
  n.offsets.assign(1, 0);
  for (size_t i = 0; i < rows; ++i) {
    auto& row = rows_in[i];
    KeepBest(row, k);
    for (const auto& [j, s] : row) {
      n.items.push_back(j);
      n.scores.push_back(s);
    }
    n.offsets.push_back(n.items.size());
  }
  return n;
}

Neighbours TrainItemKnn(const Csr& user_items, int k, float shrink, int threads) {
  const Csr item_users = user_items.Transposed();
  const size_t items = item_users.rows;
  std::vector<std::vector<std::pair<uint32_t, float>>> rows(items);
  const size_t workers = std::max(1, threads);
  std::vector<std::vector<float>> counts(workers, std::vector<float>(items, 0.f));
  std::vector<std::vector<uint32_t>> touched(workers);
  ParallelFor(items, threads, [&](size_t i, size_t w) {
    auto& count = counts[w];
    auto& seen = touched[w];
    seen.clear();
    for (uint32_t u : item_users.Columns(i)) {
      for (uint32_t j : user_items.Columns(u)) {
        if (j == i) continue;
        if (count[j] == 0) seen.push_back(j);
        count[j] += 1;
      }
    }
    const float ni = static_cast<float>(item_users.Columns(i).size());
    auto& row = rows[i];
    row.reserve(seen.size());
    for (uint32_t j : seen) {
      const float nj = static_cast<float>(item_users.Columns(j).size());
      row.emplace_back(j, count[j] / (std::sqrt(ni * nj) + shrink));
      count[j] = 0;
    }
    KeepBest(row, k);
  });
  return TopK(items, std::move(rows), k);
}

Neighbours TrainCooccurrence(const std::vector<std::vector<uint32_t>>& sessions, size_t items, int window, int k) {
  std::vector<std::vector<std::pair<uint32_t, float>>> rows(items);
  {
    // Pairs summed per source item through a sort, so that memory stays that of the pairs.
    std::vector<std::pair<uint64_t, float>> pairs;
    for (const auto& s : sessions) {
      for (size_t p = 0; p < s.size(); ++p) {
        for (size_t q = p + 1; q < s.size() && q <= p + window; ++q) {
          if (s[p] == s[q]) continue;
          const float near = 1.f / static_cast<float>(q - p);
          pairs.emplace_back(static_cast<uint64_t>(s[p]) << 32 | s[q], near);
          pairs.emplace_back(static_cast<uint64_t>(s[q]) << 32 | s[p], 0.5f * near);
        }
      }
    }
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < pairs.size();) {
      size_t j = i;
      float sum = 0;
      for (; j < pairs.size() && pairs[j].first == pairs[i].first; ++j) sum += pairs[j].second;
      rows[pairs[i].first >> 32].emplace_back(static_cast<uint32_t>(pairs[i].first & 0xffffffffu), sum);
      i = j;
    }
  }
  return TopK(items, std::move(rows), k);
}

}  // namespace aimass::recsys
