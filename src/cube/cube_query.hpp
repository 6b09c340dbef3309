// A cube query as users write it (POST /api/v1/cubes/{name}/query): measures, levels to group
// by, filters on levels and measures, order, limit, totals (rollup or cube), top-N per group,
// period-over-period comparison and pivot; checked against the cube's definition, planned onto
// the engine (filters become allowed codes, time ranges and time keys; derived measures pull
// in the measures their formulas use), run, and rendered as rows with grouping flags. Drill
// down and up are rewrites of a query along a hierarchy.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "cube/cube_spec.hpp"
#include "olap/aggregation.hpp"
#include "olap/table.hpp"

namespace aimass::cube {

struct FilterSpec {
  std::string dimension;  // a level, or
  std::string measure;    // a measure (applied to result rows, as SQL's HAVING)
  std::string op;
  std::vector<nlohmann::json> values;
};

struct OrderSpec {
  std::string by;
  bool desc = false;
};

struct TopSpec {
  size_t n = 0;
  std::string by;
  std::vector<std::string> per;
};

struct QuerySpec {
  std::vector<std::string> measures;
  std::vector<std::string> dimensions;
  std::vector<FilterSpec> filters;
  std::vector<OrderSpec> order;
  size_t limit = 1000;
  size_t offset = 0;
  std::string totals = "none";  // none | rollup | cube
  std::optional<TopSpec> top;
  std::optional<olap::Shift> compare;
  std::vector<std::string> pivot;
  std::string pre_aggregation = "auto";  // auto | none | a name

  nlohmann::json ToJson() const;
};

Result<QuerySpec> ParseQuery(const nlohmann::json& j, const CubeSpec& spec);

// What a table must hold to answer a query: its coded levels, the time levels it groups or
// filters by, and the time range's bounds.
struct QueryNeeds {
  std::set<std::string> code_levels;
  std::set<olap::TimeLevel> time_levels;
  std::vector<int64_t> time_bounds;  // every bound of a time range filter (Unix seconds)
};
Result<QueryNeeds> NeedsOf(const CubeSpec& spec, const QuerySpec& q);

// Whether `table` (a pre-aggregation) holds what `needs` asks.
bool CanAnswer(const olap::Table& table, const QueryNeeds& needs);

struct ExecOptions {
  int threads = 0;
  size_t memory_limit = size_t{1} << 30;
};

struct QueryStats {
  uint64_t rows_scanned = 0;
  uint64_t chunks_skipped = 0;
  size_t memory_used = 0;
};

// Runs `q` over `table` and renders the answer: {columns, rows, total_rows}.
Result<nlohmann::json> Execute(const CubeSpec& spec, const olap::Table& table, const QuerySpec& q, const ExecOptions& o,
                               QueryStats* stats);

// The query one step down (`value` of `level` becomes a filter and the next finer level
// replaces it) or up (the next coarser level replaces it and the filters on it go).
Result<QuerySpec> Drill(const CubeSpec& spec, QuerySpec q, const std::string& level, const std::optional<nlohmann::json>& value,
                        bool down);

}  // namespace aimass::cube
