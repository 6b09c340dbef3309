// Anomalies in a measure over time: each period against a seasonality-aware baseline (the
// median of the same phase in up to four previous seasons — the same weekday, the same hour —
// or, without a season, of the seven periods before), scored by the robust z-score of its
// residual (the residual over 1.4826 × the median absolute deviation of all residuals; Iglewicz
// and Hoaglin's modified z-score, flagged from 3.5 by default).
#pragma once

#include <optional>
#include <vector>

namespace aimass::cube {

struct AnomalyPoint {
  std::optional<double> value;
  std::optional<double> baseline;  // none until there is enough history
  std::optional<double> score;
  bool anomaly = false;
};

// `season` 0: none. Points without a value get no score.
std::vector<AnomalyPoint> DetectAnomalies(const std::vector<std::optional<double>>& series, int season, double threshold);

}  // namespace aimass::cube
