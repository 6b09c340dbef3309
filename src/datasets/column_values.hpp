// A column's values gathered from every segment of a table, in the shape statistics need:
// numbers as order-preserving 64-bit keys (sorted with a radix sort), strings as 64-bit hashes
// with the text of each distinct hash kept, and a HyperLogLog of all of them. Above `limit`
// values a uniform sample is kept instead (reservoir), and counts derived from it are marked
// approximate. Shared by the profiler and the drift report.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"
#include "datasets/table.hpp"

namespace aimass::datasets {

// Order-preserving keys: integers (and timestamps, booleans) by flipping the sign bit, doubles
// by the IEEE trick (negatives inverted).
uint64_t IntKey(int64_t v);
uint64_t FloatKey(double v);
int64_t KeyInt(uint64_t k);
double KeyFloat(uint64_t k);
void RadixSort(std::vector<uint64_t>& v);
uint64_t Mix64(uint64_t x);  // splitmix64's finaliser
uint64_t HashString(std::string_view s);

class HyperLogLog {
 public:
  HyperLogLog() : registers_(1u << kPrecision, 0) {}
  void Add(uint64_t hash);
  double Estimate() const;

 private:
  static constexpr int kPrecision = 14;  // 16,384 registers: about 0.8% standard error
  std::vector<uint8_t> registers_;
};

struct ColumnValues {
  ColumnType type = ColumnType::kString;
  uint64_t count = 0;    // non-missing values
  uint64_t missing = 0;
  bool sampled = false;  // keys hold a sample of the values, not all
  std::vector<uint64_t> keys;  // sorted: numeric keys, or string hashes
  std::unordered_map<uint64_t, std::string> text;  // strings: hash -> value (for distinct hashes seen)
  HyperLogLog hll;  // filled only when the table has more rows than the limit
  // Mean and sum of squared deviations of numbers (timestamps in seconds), over all values
  // even when sampled.
  double mean = 0, m2 = 0;
  uint64_t min_key = ~uint64_t{0}, max_key = 0;  // numbers: over all values
  // Strings: lengths, and the smallest and largest value.
  uint64_t min_len = 0, max_len = 0;
  double total_len = 0;
  std::string min_str, max_str;
  // Per row, a hash of the value (or of "missing"), when asked for (duplicate rows).
  std::vector<uint64_t> row_hashes;

  double Value(uint64_t key) const;  // a numeric key as a number (timestamps: microseconds)
};

// Reads column `column` of every segment of `table`. `row_hashes`: fill ColumnValues::row_hashes.
Result<ColumnValues> GatherColumn(const Table& table, size_t column, uint64_t limit, bool row_hashes);

// Runs of equal keys in a sorted vector, as (key, count), in key order.
std::vector<std::pair<uint64_t, uint64_t>> Runs(const std::vector<uint64_t>& sorted);

// The number of runs (distinct keys) of a sorted vector and its `k` longest runs, longest
// first (ties: smaller key first), in one pass without building the list of runs.
struct RunSummary {
  uint64_t distinct = 0;
  std::vector<std::pair<uint64_t, uint64_t>> top;
};
RunSummary SummarizeRuns(const std::vector<uint64_t>& sorted, size_t k);

// The q-quantile of sorted keys, interpolated linearly between neighbours (pandas' default).
double Quantile(const ColumnValues& v, double q);

}  // namespace aimass::datasets
