#include "recsys/ranker.hpp"

#include <xgboost/c_api.h>

#include <cmath>
#include <limits>

namespace aimass::recsys {

Result<std::string> TrainRanker(const std::vector<float>& rows, size_t features, const std::vector<float>& labels,
                                const std::vector<unsigned>& groups, const RankerOptions& o) {
  const size_t n = labels.size();
  if (n == 0 || rows.size() != n * features) return Status::BadRequest("ranker: no training rows");
  DMatrixHandle matrix = nullptr;
  BoosterHandle booster = nullptr;
  auto fail = [&](const char* what) -> Status {
    std::string err = XGBGetLastError();
    if (booster) XGBoosterFree(booster);
    if (matrix) XGDMatrixFree(matrix);
    return Status::Internal(std::string("ranker: ") + what + ": " + err.substr(0, 300));
  };
  if (XGDMatrixCreateFromMat(rows.data(), n, features, std::numeric_limits<float>::quiet_NaN(), &matrix) != 0) return fail("matrix");
  if (XGDMatrixSetFloatInfo(matrix, "label", labels.data(), n) != 0) return fail("labels");
  if (XGDMatrixSetUIntInfo(matrix, "group", groups.data(), groups.size()) != 0) return fail("groups");
  if (XGBoosterCreate(&matrix, 1, &booster) != 0) return fail("booster");
  const std::pair<const char*, std::string> params[] = {
      {"objective", "rank:ndcg"},       {"eval_metric", "ndcg@10"}, {"eta", std::to_string(o.eta)},
      {"max_depth", std::to_string(o.max_depth)}, {"min_child_weight", "1"}, {"subsample", "0.8"},
      {"tree_method", "hist"},          {"nthread", std::to_string(o.threads)}, {"seed", std::to_string(o.seed)}};
  for (const auto& [k, v] : params) {
    if (XGBoosterSetParam(booster, k, v.c_str()) != 0) return fail("parameters");
  }
  for (int round = 0; round < o.rounds; ++round) {
    if (XGBoosterUpdateOneIter(booster, round, matrix) != 0) return fail("training");
  }
  bst_ulong len = 0;
  const char* bytes = nullptr;
  if (XGBoosterSaveModelToBuffer(booster, R"({"format": "ubj"})", &len, &bytes) != 0) return fail("saving");
  std::string out(bytes, len);
  XGBoosterFree(booster);
  XGDMatrixFree(matrix);
  return out;
}

}  // namespace aimass::recsys
