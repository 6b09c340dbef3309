// Isolation forest (Liu, Ting, Zhou 2008): outliers are the points that random axis-parallel
// cuts isolate quickly. Each tree is grown on a subsample of max_samples points, to a depth of
// ceil(log2(max_samples)); a point's score is 2^(−E[h]/c(ψ)), near 1 for outliers and at most
// about 0.5 for ordinary points (scikit-learn's score_samples is its negative).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.hpp"
#include "mining/points.hpp"

namespace aimass::mining {

struct IsolationForestOptions {
  int trees = 100;
  size_t max_samples = 256;  // per tree (all points when fewer)
  uint64_t seed = 0;
  int threads = 0;
  const std::atomic<bool>* stop = nullptr;
};

class IsolationForest {
 public:
  static Result<IsolationForest> Fit(const Points& p, const IsolationForestOptions& o);
  // Anomaly scores in (0, 1] for each point of `p` (the same dimensions as the fitted data).
  std::vector<double> Score(const Points& p, int threads = 0) const;

 private:
  struct Node {
    int32_t feature = -1;  // −1: a leaf
    double split = 0;
    int32_t left = -1, right = -1;
    double size = 0;  // a leaf's points, for the unbuilt subtree's expected depth
  };
  using Tree = std::vector<Node>;
  double PathLength(const Tree& t, const double* x) const;

  std::vector<Tree> trees_;
  double c_ = 1;  // the average path length of an unsuccessful search in a tree of ψ points
};

// c(n): the average depth at which a binary search tree of n points ends an unsuccessful search.
double AveragePathLength(double n);

}  // namespace aimass::mining
