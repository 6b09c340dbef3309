// The ranker that mixes the algorithms' candidates: XGBoost learning to rank (LambdaMART,
// `rank:ndcg`) on the candidates' features, one group per user.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::recsys {

struct RankerOptions {
  int rounds = 50;
  int max_depth = 5;
  float eta = 0.1f;
  int threads = 1;
  uint64_t seed = 42;
};

// The model (UBJSON bytes) learned from rows × `features` with 0/1 labels; `groups` are the
// sizes of consecutive row groups.
Result<std::string> TrainRanker(const std::vector<float>& rows, size_t features, const std::vector<float>& labels,
                                const std::vector<unsigned>& groups, const RankerOptions& options);

}  // namespace aimass::recsys
