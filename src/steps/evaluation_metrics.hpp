// The measures `evaluate` reports, computed from a model's answers and the true values:
// accuracy, precision, recall and F1 per class, macro-F1, the confusion matrix and ROC AUC
// (one class against the rest, averaged) for classifiers; RMSE, MAE and R² for regressors.
#pragma once

#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

namespace aimass::steps {

// `scores`: one row of class scores per example (k ≥ 2 columns), or one score per example for
// a binary model (the probability of class 1). `labels`: the true classes, 0 … k-1.
nlohmann::json ClassificationMetrics(const std::vector<std::vector<double>>& scores, const std::vector<int>& labels);

nlohmann::json RegressionMetrics(const std::vector<double>& predicted, const std::vector<double>& actual);

// The area under the ROC curve of `scores` for positives (`positive[i]`), ties counted half
// (the Mann-Whitney statistic); NaN when one side is empty.
double RocAuc(const std::vector<double>& scores, const std::vector<bool>& positive);

}  // namespace aimass::steps
