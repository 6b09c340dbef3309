#include "mining/points.hpp"

#include <cmath>

namespace aimass::mining {

std::vector<std::pair<double, double>> Standardize(Points& p) {
  std::vector<std::pair<double, double>> scale;
  if (p.n == 0) return scale;
  for (size_t j = 0; j < p.d; ++j) {
    double mean = 0;
    for (size_t i = 0; i < p.n; ++i) mean += p.x[i * p.d + j];
    mean /= static_cast<double>(p.n);
    double var = 0;
    for (size_t i = 0; i < p.n; ++i) var += (p.x[i * p.d + j] - mean) * (p.x[i * p.d + j] - mean);
    const double sd = std::sqrt(var / static_cast<double>(p.n));
    for (size_t i = 0; i < p.n; ++i) p.x[i * p.d + j] = sd > 0 ? (p.x[i * p.d + j] - mean) / sd : 0.0;
    scale.emplace_back(mean, sd);
  }
  return scale;
}

}  // namespace aimass::mining
