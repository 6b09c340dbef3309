// The profile of a table version (as ydata-profiling and pandas' describe give): per column
// the type, counts of values, missing and distinct values, min, max, mean, standard deviation,
// quantiles, a histogram and the most common values; for the table its duplicate rows and the
// Pearson correlations between numeric columns. Columns are profiled in parallel.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "datasets/table.hpp"

namespace aimass::datasets {

struct ProfileOptions {
  int threads = 1;
  int histogram_bins = 20;
  int top_values = 10;
  // Values per column kept for exact distinct counts, quantiles and top values; beyond, a
  // uniform sample (and HyperLogLog for distinct counts).
  uint64_t exact_limit = 8'000'000;
  int max_correlated_columns = 64;
};

Result<nlohmann::json> ProfileTable(const Table& table, const ProfileOptions& options);

// Renders a number of a column of `type` for JSON: timestamps as RFC 3339 text, integers
// whole when they are, floats as they are.
nlohmann::json NumberJson(ColumnType type, double v);

}  // namespace aimass::datasets
