// The silhouette coefficient of a clustering (Rousseeuw 1987): for each point, b − a over
// max(a, b), a its mean distance to its own cluster, b to the nearest other cluster; the mean
// over points. Points labelled −1 (DBSCAN's noise) are left out, as are clusters of one point
// (their coefficient is 0, as scikit-learn counts them).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "mining/points.hpp"

namespace aimass::mining {

// Over all points when there are at most `sample` of them (0: no limit), else over a uniform
// sample of that many (what scikit-learn's silhouette_score does with sample_size). Empty when
// fewer than two clusters remain.
std::optional<double> Silhouette(const Points& p, const std::vector<int>& labels, size_t sample, uint64_t seed, int threads);

}  // namespace aimass::mining
