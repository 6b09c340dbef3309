// Drift between two table versions, per column present in both: the population stability
// index (PSI; numbers in ten bins at the reference's deciles, strings and booleans by value,
// the reference's 50 most common plus "other") and, for numbers and timestamps, the two-sample
// Kolmogorov-Smirnov statistic with its asymptotic p-value. A column drifted when PSI ≥ 0.2.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "datasets/table.hpp"

namespace aimass::datasets {

constexpr double kDriftPsiThreshold = 0.2;

// `current` compared against `reference`.
Result<nlohmann::json> DriftReport(const Table& current, const Table& reference, int threads);

// Kolmogorov's limiting distribution: P(D > d) for the two-sample statistic d with sample
// sizes n and m.
double KsPValue(double d, uint64_t n, uint64_t m);

}  // namespace aimass::datasets
