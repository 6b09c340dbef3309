// Filter and group-by over a cube table: the engine's one operation. Chunks are scanned on all
// cores, each skipped whole when its zone map excludes the filter; the rows left are processed
// in batches of 2,048 (a selection vector, then a group key per row, then each aggregate over
// the batch), into per-thread group states merged at the end. The group key packs each key's
// offset in its range into one integer: a dense array of states when the product of the ranges
// is small, an open-addressing hash table otherwise. Totals (ROLLUP, CUBE) are grouping sets
// folded from the finest groups. Memory for groups is counted and a query over its limit is
// refused, never left to grow. Sums of decimal columns (prices, quantities: every value has at
// most six decimal digits) are added as integers of their scale, so that a sum is the same
// whatever the order of its rows: on any number of threads, and from a pre-aggregation.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "common/status.hpp"
#include "olap/calendar.hpp"
#include "olap/table.hpp"

namespace aimass::olap {

enum class Agg : uint8_t { kRows, kSum, kCount, kAvg, kMin, kMax, kCountDistinct, kApproxDistinct };

struct GroupKey {
  bool time = false;     // a level of the time column, else a code column
  size_t column = 0;     // the code column
  TimeLevel level = TimeLevel::kDay;
};

struct CodeFilter {
  size_t column = 0;
  std::vector<uint8_t> allowed;  // by code (codes past its end are not allowed)
};

// A time level's keys kept (or, with `negate`, left out).
struct TimeKeyFilter {
  TimeLevel level = TimeLevel::kDay;
  std::vector<int64_t> keys;  // sorted
  bool negate = false;
};

struct AggregateSpec {
  Agg agg = Agg::kRows;
  size_t measure = 0;  // unused for kRows
};

struct AggregationQuery {
  std::vector<GroupKey> group_by;
  std::vector<CodeFilter> code_filters;
  int64_t time_from = std::numeric_limits<int64_t>::min();  // [from, to) in Unix seconds
  int64_t time_to = std::numeric_limits<int64_t>::max();
  std::vector<TimeKeyFilter> time_key_filters;
  std::vector<AggregateSpec> aggregates;
  // Bitmasks over group_by of the keys each grouping set keeps (bit i: key i); empty: only
  // the finest set (every key).
  std::vector<uint32_t> grouping_sets;
  int threads = 0;                    // 0: every usable core
  size_t memory_limit = size_t{1} << 30;  // bytes of group state
  bool keep_states = false;           // return the finest groups' partial states (building a pre-aggregation)
};

struct ResultRow {
  std::vector<int64_t> keys;  // per group_by key: a code, or a time level key (0 where rolled up)
  uint32_t grouping = 0;      // bit i set: key i is rolled up (SQL's GROUPING)
  std::vector<std::optional<double>> values;  // per aggregate; nullopt is null
};

// A finest group's partial states, per aggregate: sum, count, min, max, and distinct codes.
struct GroupState {
  double rows = 0;
  std::vector<double> sum, count, min, max;
  std::vector<int64_t> exact;  // a sum of decimals, as an integer of the aggregate's scale
  std::vector<std::vector<uint32_t>> distinct;  // sorted codes, per aggregate (empty unless exact distinct)
};

struct AggregationResult {
  std::vector<ResultRow> rows;  // grouping sets in the order asked, groups in key order within each
  std::vector<GroupState> states;  // keep_states: per row of the finest set
  uint64_t rows_scanned = 0;
  uint64_t chunks_skipped = 0;
  size_t memory_used = 0;
};

Result<AggregationResult> Aggregate(const Table& table, const AggregationQuery& query);

}  // namespace aimass::olap
