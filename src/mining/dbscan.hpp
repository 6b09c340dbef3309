// DBSCAN (Ester et al. 1996): clusters as regions dense in points. A point with at least
// `min_samples` points (itself included) within `eps` is a core point; core points within eps
// of each other share a cluster, and the points near a core point join its cluster; the rest
// is noise (−1). Neighbourhoods come from a k-d tree (nanoflann), distances are Euclidean, and
// "within" includes eps itself, as in scikit-learn.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.hpp"
#include "mining/points.hpp"

namespace aimass::mining {

struct DbscanOptions {
  double eps = 0.5;
  size_t min_samples = 5;
  int threads = 0;
  const std::atomic<bool>* stop = nullptr;
};

struct DbscanResult {
  std::vector<int> labels;  // cluster from 0, or −1 for noise
  int clusters = 0;
  size_t noise = 0;
  size_t core = 0;
};

Result<DbscanResult> Dbscan(const Points& p, const DbscanOptions& o);

}  // namespace aimass::mining
