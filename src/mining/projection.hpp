// Points seen in two dimensions: their first two principal components, for the scatter plot
// of a clustering (a view, not part of the analysis).
#pragma once

#include <array>
#include <vector>

#include "mining/points.hpp"

namespace aimass::mining {

struct Projection2 {
  std::vector<double> mean;                    // d
  std::array<std::vector<double>, 2> axes;     // each d long, unit length
  std::array<double, 2> explained{0.0, 0.0};   // the share of the variance along each axis

  std::array<double, 2> Apply(const double* x) const;
};

// The principal axes of the points (a single dimension gets a second axis of zeros).
Projection2 PrincipalAxes(const Points& p);

}  // namespace aimass::mining
