// A cube's definition as users write it (POST /api/v1/cubes): its source dataset, dimensions
// (a column each, a time dimension with its calendar levels, declared hierarchies of coarser
// levels derived from columns), measures (an aggregate of a column or an expression, derived
// measures as formulas over others) and pre-aggregations. Parsed once, checked whole, and kept
// as the JSON it came from.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "olap/calendar.hpp"
#include "olap/expression.hpp"

namespace aimass::cube {

// A level stored as a dictionary-coded column: the dimension's own column, or a coarser level
// of its hierarchy, derived from a column as it is, by its first `prefix` characters, or by a
// `map` of values (others become `default`, or stay as they are when there is none).
struct LevelSpec {
  std::string name;    // as queries name it: "country", "product.family"
  std::string column;  // the source column
  int prefix = 0;
  std::map<std::string, std::string> map;
  std::optional<std::string> map_default;
};

struct DimensionSpec {
  std::string name;
  std::string column;
  bool time = false;
  std::vector<LevelSpec> levels;  // coarse to fine, the dimension's own column last (none for time)
};

enum class MeasureAgg { kSum, kCount, kAvg, kMin, kMax, kCountDistinct, kDerived };

struct MeasureSpec {
  std::string name;
  MeasureAgg agg = MeasureAgg::kSum;
  std::string column;   // or
  std::string expr;     // a row expression (value measures)
  std::string filter;   // rows counted only where it is true
  std::string formula;  // derived: over other measures' names
  bool approximate = false;  // count_distinct by HyperLogLog
  bool rows() const { return agg == MeasureAgg::kCount && column.empty() && expr.empty(); }
};

struct PreAggregationSpec {
  std::string name;
  std::vector<std::string> dimensions;  // level names; at most one time level
};

struct CubeSpec {
  std::string name;
  std::string description;
  std::string dataset;
  std::string version = "latest";  // a number, an alias or latest
  std::vector<DimensionSpec> dimensions;
  std::vector<MeasureSpec> measures;
  std::vector<PreAggregationSpec> pre_aggregations;

  static Result<CubeSpec> Parse(const nlohmann::json& j);
  nlohmann::json ToJson() const;

  // The dictionary-coded levels in table order, and where each is.
  std::vector<const LevelSpec*> CodeLevels() const;
  int CodeColumn(const std::string& level) const;  // -1 when not a coded level
  const DimensionSpec* TimeDimension() const;
  const DimensionSpec* DimensionOf(const std::string& level) const;
  // The measures stored in the table (not rows counts or derived), in table order.
  std::vector<const MeasureSpec*> TableMeasures() const;
  int TableMeasure(const std::string& name) const;
  const MeasureSpec* Measure(const std::string& name) const;
};

// The aggregate name as written: sum, count, avg, min, max, count_distinct, derived.
std::string AggName(MeasureAgg agg);

}  // namespace aimass::cube
