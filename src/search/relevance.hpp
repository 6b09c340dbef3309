// Relevance measures of a ranked list against graded judgements, as trec_eval computes them:
// nDCG@k (gain = the grade, discount log2(rank + 1), ideal from the judgements), average
// precision (relevant = grade > 0, over every judged relevant document), precision@k and
// recall@k.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace aimass::search {

struct RelevanceScores {
  double ndcg = 0, ap = 0, precision = 0, recall = 0;
};

// ranked: document ids, best first; judgements: id → grade (> 0 relevant).
RelevanceScores Score(const std::vector<std::string>& ranked, const std::map<std::string, double>& judgements,
                      size_t k, size_t recall_k);

}  // namespace aimass::search
