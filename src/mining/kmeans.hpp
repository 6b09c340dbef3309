// k-means clustering: Lloyd's algorithm from k-means++ seeds (the greedy variant scikit-learn
// uses: several candidates per new centre, the one that lowers the potential most kept), or
// mini-batch k-means (Sculley 2010, per-centre learning rates) for data too large to sweep
// many times. The assignment step is a matrix product per block of points, on all threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "mining/points.hpp"

namespace aimass::mining {

struct KMeansOptions {
  int k = 8;
  uint64_t seed = 0;
  std::string init = "k-means++";  // or "random" (k distinct points)
  int n_init = 1;                  // runs from different seeds; the lowest inertia is kept
  int max_iter = 300;              // Lloyd: iterations; mini-batch: passes over the data
  // Convergence: the centres moved less than tol × the mean variance of the columns (squared,
  // summed over centres), as scikit-learn measures it; or no point changed its cluster.
  double tol = 1e-4;
  bool mini_batch = false;
  size_t batch_size = 1024;
  int threads = 0;  // 0: every usable CPU
  const std::atomic<bool>* stop = nullptr;  // checked every iteration; set: Conflict "stopped"
};

struct KMeansResult {
  std::vector<double> centroids;  // k × d
  std::vector<int> labels;        // one per point
  std::vector<int64_t> sizes;     // points per cluster
  double inertia = 0;             // sum of squared distances to the own centre
  int iterations = 0;             // of the run kept
};

Result<KMeansResult> KMeans(const Points& p, const KMeansOptions& o);

// For every point the nearest of `centroids` (k × d); returns the inertia.
double AssignNearest(const Points& p, const std::vector<double>& centroids, int k, int threads, std::vector<int>& labels);

}  // namespace aimass::mining
