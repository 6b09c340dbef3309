// Churn: which persons are leaving. Behavioural features of every person (recency, tenure,
// activity, counts of the most common events) are computed from the events up to a cut-off;
// the persons whose label property is set train a gradient-boosted classifier through a
// pipeline (train.xgboost, register), and the model it registers scores every person, the
// probability written back as a person property.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "behavior/insights.hpp"
#include "common/status.hpp"

namespace aimass::behavior {

struct ChurnFeatures {
  std::vector<std::string> names;  // feature columns
  std::vector<std::string> ids;    // per person: their (root) distinct id
  std::vector<float> x;            // row-major, persons × names
  std::vector<int> label;          // per person: 1 churned, 0 stayed, -1 unknown
};

// {"label_property", "date_to" (the cut-off; default now), "top_events" (20)}: every person with
// an event before the cut-off. A label is true / 1 / "yes" / "true" / "1" or their opposites.
Result<ChurnFeatures> BuildChurnFeatures(InsightContext& ctx, const nlohmann::json& req);

// The labelled persons (but those held out) as CSV: distinct_id, label, the features. A person
// is held out, for the model's evaluation, when the hash of their id says so (one in five).
std::string TrainingCsv(const ChurnFeatures& f, size_t* rows);
bool HeldOut(const std::string& id);

// The probability of the positive class for every person, from an XGBoost model file whose
// features are `model_features` (in its order; names the table lacks are missing values).
Result<std::vector<float>> ScoreChurn(const std::string& model_path, const ChurnFeatures& f, const std::vector<std::string>& model_features);

// The area under the ROC curve of `scores` for `labels` (0/1); ties count one half.
double RocAuc(const std::vector<float>& scores, const std::vector<int>& labels);

}  // namespace aimass::behavior
