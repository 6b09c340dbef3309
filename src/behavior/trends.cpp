// Trends: per interval (and breakdown value), each series' count of events, unique persons, or
// the sum, average, minimum or maximum of a numeric property.
#include <algorithm>
#include <cmath>
#include <limits>

#include "behavior/insights.hpp"
#include "behavior/person_scan.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

enum class Math : uint8_t { kTotal, kUnique, kSum, kAvg, kMin, kMax };

struct Series {
  Entity entity;
  Math math = Math::kTotal;
  std::string math_name = "total";
  std::string property;
  CompiledEntity compiled;
  size_t value_key = 0;
  bool has_value_key = false;
};

Result<Math> ParseMath(const std::string& m) {
  if (m == "total") return Math::kTotal;
  if (m == "unique" || m == "dau" || m == "unique_users") return Math::kUnique;
  if (m == "sum") return Math::kSum;
  if (m == "avg") return Math::kAvg;
  if (m == "min") return Math::kMin;
  if (m == "max") return Math::kMax;
  return Status::BadRequest("math '" + m.substr(0, 32) + "' is not one of total, unique (dau), sum, avg, min, max");
}

// One cell's accumulator: an interval of a series and breakdown value (or its whole range).
struct Cell {
  double count = 0, sum = 0, valued = 0, unique = 0;
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  uint32_t stamp = 0;  // the last person counted in `unique`, plus one
  void Merge(const Cell& o) {
    count += o.count;
    sum += o.sum;
    valued += o.valued;
    unique += o.unique;  // persons are scanned by one thread each, so per-thread uniques add up
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }
};

json Value(const Cell& c, Math m) {
  switch (m) {
    case Math::kTotal: return c.count;
    case Math::kUnique: return c.unique;
    case Math::kSum: return c.sum;
    case Math::kAvg: return c.valued ? json(c.sum / c.valued) : json();
    case Math::kMin: return c.valued ? json(c.min) : json();
    case Math::kMax: return c.valued ? json(c.max) : json();
  }
  return nullptr;
}

}  // namespace

Result<json> Trends(InsightContext& ctx, const json& req) {
  AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(req, ctx.now_ms));
  AIMASS_ASSIGN_OR_RETURN(auto global, ParseConditions(req.value("filters", json())));
  AIMASS_ASSIGN_OR_RETURN(auto breakdown, ParseBreakdown(req));
  std::vector<Series> series;
  json list = req.value("series", json());
  if (list.is_null()) {
    if (!req.contains("event")) return Status::BadRequest("series (a list of {event, math, math_property, filters}) or event is required");
    list = json::array({json{{"event", req["event"]}, {"math", req.value("math", json("total"))}, {"math_property", req.value("math_property", json())}}});
  }
  if (!list.is_array() || list.empty() || list.size() > 20) return Status::BadRequest("series is a list of 1-20 {event, math, math_property, filters}");
  Compiler compiler(ctx.project, ctx.snap, ctx.cohorts);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "series[" + std::to_string(i) + "]";
    Series s;
    AIMASS_ASSIGN_OR_RETURN(s.entity, ParseEntity(list[i], where.c_str()));
    if (list[i].is_object()) {
      AIMASS_ASSIGN_OR_RETURN(s.math_name, TextOf(list[i], "math", "total"));
      if (list[i].contains("math_property") && !list[i]["math_property"].is_null()) {
        if (!list[i]["math_property"].is_string()) return Status::BadRequest(where + ".math_property is a property name");
        s.property = list[i]["math_property"];
      }
    }
    AIMASS_ASSIGN_OR_RETURN(s.math, ParseMath(s.math_name));
    const bool valued = s.math == Math::kSum || s.math == Math::kAvg || s.math == Math::kMin || s.math == Math::kMax;
    if (valued && s.property.empty()) return Status::BadRequest(where + ": math " + s.math_name + " needs math_property");
    if (valued) {
      Status st;
      ctx.project.Read([&](const ProjectState& ps) {
        if (auto k = ps.KeyIndex(s.property)) {
          if (!ps.keys[*k].numeric) st = Status::BadRequest(where + ".math_property '" + s.property + "' is not numeric");
          s.value_key = *k;
          s.has_value_key = true;
        }
      });
      AIMASS_RETURN_IF_ERROR(st);
    }
    AIMASS_ASSIGN_OR_RETURN(s.compiled, compiler.Compile(s.entity, global));
    series.push_back(std::move(s));
  }
  Compiler::CompiledBreakdown bd;
  size_t values = 1;
  if (breakdown) {
    AIMASS_ASSIGN_OR_RETURN(bd, compiler.CompileBreakdown(*breakdown));
    values = bd.codes;
  }
  const int64_t first = range.first_key();
  const size_t intervals = static_cast<size_t>(range.last_key() - first + 1);
  // Cells: series × breakdown value × (intervals + 1 for the whole range).
  const size_t per_series = values * (intervals + 1);
  if (series.size() * per_series > (size_t{1} << 20)) {
    return Status::BadRequest("the breakdown has too many values for this range and interval: filter it or pick a coarser interval");
  }
  // Persons any series may count.
  std::vector<uint8_t> persons;
  bool everyone = false;
  for (const auto& s : series) everyone |= s.compiled.persons.empty();
  if (!everyone) {
    persons.assign(ctx.snap.roots.size(), 0);
    for (const auto& s : series) {
      for (size_t d = 0; d < persons.size(); ++d) persons[d] |= s.compiled.persons[d];
    }
  }
  std::vector<std::vector<Cell>> cells(static_cast<size_t>(ctx.threads), std::vector<Cell>(series.size() * per_series));
  ScanPersons(
      ctx.snap, ctx.threads, persons,
      [&](const EventColumns& c, uint32_t r) -> uint32_t {
        if (c.time[r] < range.from || c.time[r] >= range.to) return 0;
        uint32_t mask = 0;
        for (size_t si = 0; si < series.size(); ++si) mask |= series[si].compiled.Match(c, r) ? 1u << si : 0;
        return mask;
      },
      [&](int t, uint32_t root, std::span<const PersonEvent> events) {
        auto& acc = cells[static_cast<size_t>(t)];
        for (const PersonEvent& e : events) {
          for (size_t si = 0; si < series.size(); ++si) {
            const Series& s = series[si];
            if (!(e.mask >> si & 1) || !InMask(s.compiled.persons, root)) continue;
            const size_t b = breakdown ? bd.Of(*e.cols, e.row, root) : 0;
            const size_t base = si * per_series + b * (intervals + 1);
            Cell* cs[2] = {&acc[base + static_cast<size_t>(range.Key(e.time) - first)], &acc[base + intervals]};
            const double v = s.has_value_key ? e.cols->Number(s.value_key, e.row) : std::nan("");
            for (Cell* cell : cs) {
              cell->count += 1;
              if (cell->stamp != root + 1) {
                cell->stamp = root + 1;
                cell->unique += 1;
              }
              if (!std::isnan(v)) {
                cell->sum += v;
                cell->valued += 1;
                cell->min = std::min(cell->min, v);
                cell->max = std::max(cell->max, v);
              }
            }
          }
        }
      });
  for (size_t t = 1; t < cells.size(); ++t) {
    for (size_t i = 0; i < cells[0].size(); ++i) cells[0][i].Merge(cells[t][i]);
  }
  const auto& acc = cells[0];
  json keys = json::array();
  for (size_t i = 0; i < intervals; ++i) keys.push_back(range.Render(first + static_cast<int64_t>(i)));
  json out_series = json::array();
  for (size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    // Breakdown values by their count over the range, the largest first.
    std::vector<size_t> order;
    for (size_t b = 0; b < values; ++b) {
      if (!breakdown || acc[si * per_series + b * (intervals + 1) + intervals].count > 0) order.push_back(b);
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return acc[si * per_series + a * (intervals + 1) + intervals].count > acc[si * per_series + b * (intervals + 1) + intervals].count;
    });
    if (breakdown && order.size() > breakdown->limit) order.resize(breakdown->limit);
    for (size_t b : order) {
      const size_t base = si * per_series + b * (intervals + 1);
      json data = json::array();
      for (size_t i = 0; i < intervals; ++i) data.push_back(Value(acc[base + i], s.math));
      json one = {{"label", s.entity.label}, {"event", s.entity.event.empty() ? json() : json(s.entity.event)}, {"math", s.math_name},
                  {"data", data}, {"total", Value(acc[base + intervals], s.math)}};
      if (!s.property.empty()) one["math_property"] = s.property;
      if (breakdown) one["breakdown_value"] = compiler.BreakdownValue(bd, static_cast<uint32_t>(b));
      out_series.push_back(std::move(one));
    }
  }
  json out = {{"interval", olap::TimeLevelName(range.level)}, {"intervals", keys}, {"series", out_series}};
  if (breakdown) out["breakdown"] = breakdown->key;
  return out;
}

}  // namespace aimass::behavior
