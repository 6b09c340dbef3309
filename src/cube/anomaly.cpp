#include "cube/anomaly.hpp"

#include <algorithm>
#include <cmath>

namespace aimass::cube {

namespace {

constexpr int kSeasons = 4;    // previous seasons in a baseline
constexpr int kWindow = 7;     // previous periods in a baseline without a season
constexpr int kMinHistory = 2; // values a baseline needs

double Median(std::vector<double> v) {
  const size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + n / 2, v.end());
  const double hi = v[n / 2];
  if (n % 2) return hi;
  return (*std::max_element(v.begin(), v.begin() + n / 2) + hi) / 2;
}

}  // namespace

std::vector<AnomalyPoint> DetectAnomalies(const std::vector<std::optional<double>>& series, int season, double threshold) {
  std::vector<AnomalyPoint> out(series.size());
  std::vector<double> residuals;
  for (size_t t = 0; t < series.size(); ++t) {
    out[t].value = series[t];
    std::vector<double> history;
    if (season > 1) {
      for (int k = 1; k <= kSeasons; ++k) {
        const long i = static_cast<long>(t) - static_cast<long>(k) * season;
        if (i >= 0 && series[static_cast<size_t>(i)]) history.push_back(*series[static_cast<size_t>(i)]);
      }
    } else {
      for (int k = 1; k <= kWindow; ++k) {
        const long i = static_cast<long>(t) - k;
        if (i >= 0 && series[static_cast<size_t>(i)]) history.push_back(*series[static_cast<size_t>(i)]);
      }
    }
    if (history.size() < kMinHistory) continue;
    out[t].baseline = Median(history);
    if (series[t]) residuals.push_back(*series[t] - *out[t].baseline);
  }
  if (residuals.empty()) return out;
  const double mid = Median(residuals);
  std::vector<double> dev;
  for (double r : residuals) dev.push_back(std::fabs(r - mid));
  double scale = 1.4826 * Median(dev);
  if (scale == 0) {
    // Over half the residuals equal: the mean absolute deviation still tells a spike apart.
    double sum = 0;
    for (double d : dev) sum += d;
    scale = 1.2533 * sum / static_cast<double>(dev.size());
  }
  if (scale == 0) scale = 1e-12;
  for (auto& p : out) {
    if (!p.value || !p.baseline) continue;
    p.score = (*p.value - *p.baseline - mid) / scale;
    p.anomaly = std::fabs(*p.score) >= threshold;
  }
  return out;
}

}  // namespace aimass::cube
