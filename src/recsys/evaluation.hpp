// Offline evaluation with a time split: every algorithm trained on the feedback before a moment
// and asked for each user's top k; what the user chose after it is the truth.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "recsys/trainer.hpp"

namespace aimass::recsys {

// Ranking metrics at k, summed over users (divide by `users`).
struct RankingMetrics {
  double precision = 0, recall = 0, ndcg = 0, map = 0, hit_rate = 0;
  size_t users = 0;

  void Add(const std::vector<uint32_t>& ranked, const std::unordered_set<uint32_t>& truth, size_t k);
  nlohmann::json Json(size_t catalogue, size_t recommended) const;
};

struct EvaluationOptions {
  int64_t split_ms = 0;  // feedback before it trains, from it on is the truth
  size_t k = 10;
  TrainOptions train;
};

// {"split_at_ms","k","train_events","test_events","test_users","items",
//  "algorithms":[{"name","precision","recall","ndcg","map","hit_rate","coverage"}…],
//  "baseline":"popular","best","best_ndcg_over_baseline","model":{…}}
Result<nlohmann::json> EvaluateTimeSplit(const std::vector<Event>& events, size_t users, const std::vector<std::string>& items,
                                         const EvaluationOptions& options, const Say& say);

}  // namespace aimass::recsys
