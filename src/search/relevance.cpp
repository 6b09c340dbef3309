#include "search/relevance.hpp"

#include <algorithm>
#include <cmath>

namespace aimass::search {

RelevanceScores Score(const std::vector<std::string>& ranked, const std::map<std::string, double>& judgements,
                      size_t k, size_t recall_k) {
  RelevanceScores s;
  std::vector<double> ideal;
  size_t relevant = 0;
  for (const auto& [id, g] : judgements) {
    if (g > 0) {
      ideal.push_back(g);
      ++relevant;
    }
  }
  if (relevant == 0) return s;
  std::sort(ideal.rbegin(), ideal.rend());
  double dcg = 0, idcg = 0, hits = 0, ap = 0, hits_k = 0, hits_recall = 0;
  for (size_t i = 0; i < ranked.size(); ++i) {
    auto it = judgements.find(ranked[i]);
    const double g = it == judgements.end() ? 0 : it->second;
    if (i < k) dcg += g / std::log2(static_cast<double>(i) + 2);
    if (g > 0) {
      ++hits;
      ap += hits / static_cast<double>(i + 1);
      if (i < k) ++hits_k;
      if (i < recall_k) ++hits_recall;
    }
  }
  for (size_t i = 0; i < std::min(k, ideal.size()); ++i) idcg += ideal[i] / std::log2(static_cast<double>(i) + 2);
  s.ndcg = idcg > 0 ? dcg / idcg : 0;
  s.ap = ap / static_cast<double>(relevant);
  s.precision = hits_k / static_cast<double>(k);
  s.recall = hits_recall / static_cast<double>(relevant);
  return s;
}

}  // namespace aimass::search
