#include "steps/evaluation_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace aimass::steps {

using nlohmann::json;

double RocAuc(const std::vector<double>& scores, const std::vector<bool>& positive) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Sum of the positives' ranks (1-based, ties given their average rank).
  double rank_sum = 0;
  size_t pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    double avg = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t t = i; t < j; ++t) {
      if (positive[order[t]]) {
        rank_sum += avg;
        ++pos;
      }
    }
    i = j;
  }
  size_t neg = scores.size() - pos;
  if (pos == 0 || neg == 0) return std::nan("");
  double p = static_cast<double>(pos), n = static_cast<double>(neg);
  return (rank_sum - p * (p + 1) / 2) / (p * n);
}

json ClassificationMetrics(const std::vector<std::vector<double>>& scores, const std::vector<int>& labels) {
  const size_t n = labels.size();
  bool binary_score = !scores.empty() && scores[0].size() == 1;
  int k = binary_score ? 2 : scores.empty() ? 0 : static_cast<int>(scores[0].size());
  for (int l : labels) k = std::max(k, l + 1);
  std::vector<std::vector<int64_t>> confusion(k, std::vector<int64_t>(k, 0));  // [true][predicted]
  int64_t right = 0;
  for (size_t i = 0; i < n; ++i) {
    int predicted = 0;
    if (binary_score) {
      predicted = scores[i][0] >= 0.5 ? 1 : 0;
    } else {
      predicted = static_cast<int>(std::max_element(scores[i].begin(), scores[i].end()) - scores[i].begin());
    }
    confusion[labels[i]][predicted]++;
    right += predicted == labels[i];
  }
  json per_class = json::array();
  double f1_sum = 0, auc_sum = 0;
  int auc_classes = 0;
  for (int c = 0; c < k; ++c) {
    int64_t tp = confusion[c][c], fp = 0, fn = 0;
    for (int o = 0; o < k; ++o) {
      if (o == c) continue;
      fp += confusion[o][c];
      fn += confusion[c][o];
    }
    double precision = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0;
    double recall = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0;
    double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
    f1_sum += f1;
    std::vector<double> s(n);
    std::vector<bool> positive(n);
    for (size_t i = 0; i < n; ++i) {
      s[i] = binary_score ? (c == 1 ? scores[i][0] : 1 - scores[i][0]) : scores[i][c];
      positive[i] = labels[i] == c;
    }
    double auc = RocAuc(s, positive);
    if (!std::isnan(auc)) {
      auc_sum += auc;
      ++auc_classes;
    }
    per_class.push_back({{"class", c}, {"precision", precision}, {"recall", recall}, {"f1", f1},
                         {"support", tp + fn}, {"roc_auc", std::isnan(auc) ? json(nullptr) : json(auc)}});
  }
  json out = {{"examples", n},
              {"accuracy", n ? static_cast<double>(right) / static_cast<double>(n) : 0},
              {"macro_f1", k ? f1_sum / k : 0},
              {"per_class", per_class},
              {"confusion_matrix", confusion}};
  // Binary: the AUC of class 1; more classes: one against the rest, averaged.
  if (k == 2 && !per_class[1]["roc_auc"].is_null()) {
    out["roc_auc"] = per_class[1]["roc_auc"];
  } else if (auc_classes) {
    out["roc_auc"] = auc_sum / auc_classes;
  }
  return out;
}

json RegressionMetrics(const std::vector<double>& predicted, const std::vector<double>& actual) {
  const size_t n = actual.size();
  double se = 0, ae = 0, mean = 0;
  for (double a : actual) mean += a;
  mean = n ? mean / static_cast<double>(n) : 0;
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = predicted[i] - actual[i];
    se += d * d;
    ae += std::fabs(d);
    total += (actual[i] - mean) * (actual[i] - mean);
  }
  json out = {{"examples", n},
              {"rmse", n ? std::sqrt(se / static_cast<double>(n)) : 0},
              {"mae", n ? ae / static_cast<double>(n) : 0}};
  if (total > 0) out["r2"] = 1 - se / total;
  return out;
}

}  // namespace aimass::steps
