// A dense table of numbers, one row per point: what clustering, outlier detection and the
// two-dimensional projection read. Row-major, so that a point is one contiguous run.
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>
#include <vector>

namespace aimass::mining {

struct Points {
  size_t n = 0;  // points
  size_t d = 0;  // dimensions
  std::vector<double> x;  // n × d

  const double* row(size_t i) const { return x.data() + i * d; }
  double* row(size_t i) { return x.data() + i * d; }
};

// The squared Euclidean distance of two points of `d` dimensions.
inline double SquaredDistance(const double* a, const double* b, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) {
    const double t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

// A long computation asked to stop (a cancelled job): checked between its steps.
inline bool Stopped(const std::atomic<bool>* stop) { return stop && stop->load(std::memory_order_relaxed); }

// Each column scaled to mean 0 and standard deviation 1 (a constant column becomes 0), so that
// distances weigh every column alike; what "standardize" asks for. Returns each column's mean
// and standard deviation (to map centres back to the columns' own units).
std::vector<std::pair<double, double>> Standardize(Points& p);

}  // namespace aimass::mining
