#include "cube/cube_query.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "common/text.hpp"

namespace aimass::cube {

using nlohmann::json;
using olap::TimeLevel;

namespace {

constexpr size_t kMaxLimit = 100000;
constexpr size_t kMaxFilterValues = 10000;
constexpr size_t kMaxCubeDimensions = 8;  // totals: cube makes 2^n grouping sets

const std::set<std::string> kDimOps = {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains", "starts_with"};
const std::set<std::string> kMeasureOps = {"eq", "ne", "gt", "gte", "lt", "lte", "between"};

// A level as a query names it.
struct LevelRef {
  bool time = false;
  bool bare_time = false;  // the time dimension itself: a day when grouped, timestamps when filtered
  TimeLevel level = TimeLevel::kDay;
  std::string code_level;
};

Result<LevelRef> Resolve(const CubeSpec& spec, const std::string& name) {
  const DimensionSpec* d = spec.DimensionOf(name);
  if (!d) return Status::BadRequest("'" + name.substr(0, 128) + "' is not a level of the cube");
  LevelRef r;
  if (d->time) {
    r.time = true;
    if (name == d->name) {
      r.bare_time = true;
      r.level = TimeLevel::kDay;
    } else {
      r.level = *olap::ParseTimeLevel(name.substr(d->name.size() + 1));
    }
  } else {
    r.code_level = name;
  }
  return r;
}

std::string ValueText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == std::trunc(d) && std::fabs(d) < 9e15) return std::to_string(static_cast<int64_t>(d));
  }
  return v.dump();
}

std::optional<double> Number(std::string_view s) {
  double v;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Text order, numeric where both sides are numbers (customer ids, years).
int CompareText(const std::string& a, const std::string& b) {
  auto na = Number(a), nb = Number(b);
  if (na && nb) return *na < *nb ? -1 : *na > *nb ? 1 : 0;
  return a < b ? -1 : a > b ? 1 : 0;
}

// The end of the period a time value names: a year, a month, a day, or one second.
Result<std::pair<int64_t, int64_t>> TimePeriod(const json& v) {
  if (!v.is_string() && !v.is_number_integer()) return Status::BadRequest("a time is a string (2011, 2011-03, 2011-03-05, RFC 3339) or Unix seconds");
  const std::string s = ValueText(v);
  auto t = olap::ParseTime(s);
  if (!t) return Status::BadRequest("'" + s.substr(0, 64) + "' is not a time");
  int64_t end = *t + 1;
  if (s.size() == 4) end = olap::KeyStart(TimeLevel::kYear, olap::LevelKey(TimeLevel::kYear, *t) + 1);
  else if (s.size() == 7) end = olap::KeyStart(TimeLevel::kMonth, olap::LevelKey(TimeLevel::kMonth, *t) + 1);
  else if (s.size() == 10) end = *t + 86400;
  return std::make_pair(*t, end);
}

bool IsCountLike(const MeasureSpec& m) { return m.agg == MeasureAgg::kCount || m.agg == MeasureAgg::kCountDistinct; }

// The engine's plan of a query against one table.
struct Plan {
  olap::AggregationQuery q;
  std::vector<std::string> agg_measures;  // the measure each aggregate computes
  std::vector<std::string> slots;         // a row's values: the aggregates', then the derived measures'
  size_t Slot(const std::string& name) const {
    return static_cast<size_t>(std::find(slots.begin(), slots.end(), name) - slots.begin());
  }
  std::vector<LevelRef> levels;           // per group key
  std::vector<FilterSpec> having;
};

Status AddFilter(const CubeSpec& spec, const olap::Table& table, const FilterSpec& f, Plan* p) {
  AIMASS_ASSIGN_OR_RETURN(LevelRef r, Resolve(spec, f.dimension));
  const std::string& op = f.op;
  auto& q = p->q;
  if (r.time && (r.bare_time || (olap::IsHierarchical(r.level) && op != "in" && op != "not_in" && op != "ne"))) {
    // A range of seconds: a period of the level, or of the time written.
    if (op == "contains" || op == "starts_with" || op == "in" || op == "not_in" || op == "ne") {
      return Status::BadRequest("the time dimension takes eq, gt, gte, lt, lte and between; in and ne go on one of its levels (" + f.dimension + ".month)");
    }
    auto period = [&](const json& v) -> Result<std::pair<int64_t, int64_t>> {
      if (r.bare_time) return TimePeriod(v);
      auto k = olap::ParseKey(r.level, ValueText(v));
      if (!k) return Status::BadRequest("'" + ValueText(v).substr(0, 64) + "' is not a " + std::string(olap::TimeLevelName(r.level)));
      return std::make_pair(olap::KeyStart(r.level, *k), olap::KeyStart(r.level, *k + 1));
    };
    AIMASS_ASSIGN_OR_RETURN(auto a, period(f.values[0]));
    int64_t from = std::numeric_limits<int64_t>::min(), to = std::numeric_limits<int64_t>::max();
    if (op == "eq") from = a.first, to = a.second;
    else if (op == "gt") from = a.second;
    else if (op == "gte") from = a.first;
    else if (op == "lt") to = a.first;
    else if (op == "lte") to = a.second;
    else {  // between, both ends included
      AIMASS_ASSIGN_OR_RETURN(auto b, period(f.values[1]));
      from = a.first, to = b.second;
    }
    q.time_from = std::max(q.time_from, from);
    q.time_to = std::min(q.time_to, to);
    return Status::Ok();
  }
  if (r.time) {
    olap::TimeKeyFilter kf;
    kf.level = r.level;
    std::vector<int64_t> keys;
    for (const auto& v : f.values) {
      auto k = olap::ParseKey(r.level, ValueText(v));
      if (!k) return Status::BadRequest("'" + ValueText(v).substr(0, 64) + "' is not a " + std::string(olap::TimeLevelName(r.level)));
      keys.push_back(*k);
    }
    if (op == "contains" || op == "starts_with") return Status::BadRequest(f.dimension + " takes eq, ne, in, not_in, gt, gte, lt, lte, between");
    if (op == "eq" || op == "in" || op == "ne" || op == "not_in") {
      kf.keys = keys;
      kf.negate = op == "ne" || op == "not_in";
    } else {  // a range over a cyclic level: its keys listed
      const int64_t lo_all = r.level == TimeLevel::kWeekday ? 1 : 0, hi_all = r.level == TimeLevel::kWeekday ? 7 : 23;
      int64_t lo = lo_all, hi = hi_all;
      if (op == "gt") lo = keys[0] + 1;
      if (op == "gte") lo = keys[0];
      if (op == "lt") hi = keys[0] - 1;
      if (op == "lte") hi = keys[0];
      if (op == "between") lo = keys[0], hi = keys[1];
      for (int64_t k = lo; k <= hi; ++k) kf.keys.push_back(k);
    }
    std::sort(kf.keys.begin(), kf.keys.end());
    q.time_key_filters.push_back(std::move(kf));
    return Status::Ok();
  }
  const auto& cols = table.schema.code_columns;
  const auto it = std::find(cols.begin(), cols.end(), r.code_level);
  if (it == cols.end()) return Status::Internal("the table lacks level " + r.code_level);
  const size_t col = static_cast<size_t>(it - cols.begin());
  const olap::Dictionary& dict = *table.code_dicts[col];
  olap::CodeFilter cf;
  cf.column = col;
  cf.allowed.assign(dict.size(), 0);
  if (op == "eq" || op == "in" || op == "ne" || op == "not_in") {
    for (const auto& v : f.values) {
      if (v.is_null()) {
        cf.allowed[0] = 1;
        continue;
      }
      if (auto code = dict.Find(ValueText(v))) cf.allowed[*code] = 1;
    }
    if (op == "ne" || op == "not_in") {
      for (auto& a : cf.allowed) a = !a;
    }
  } else {
    const std::string a = f.values.empty() ? "" : ValueText(f.values[0]);
    const std::string b = f.values.size() > 1 ? ValueText(f.values[1]) : "";
    const std::string la = AsciiLower(a);
    for (uint32_t c = 1; c < dict.size(); ++c) {
      const std::string& v = dict.value(c);
      bool keep = false;
      if (op == "contains") keep = AsciiLower(v).find(la) != std::string::npos;
      else if (op == "starts_with") keep = AsciiLower(v).rfind(la, 0) == 0;
      else if (op == "gt") keep = CompareText(v, a) > 0;
      else if (op == "gte") keep = CompareText(v, a) >= 0;
      else if (op == "lt") keep = CompareText(v, a) < 0;
      else if (op == "lte") keep = CompareText(v, a) <= 0;
      else keep = CompareText(v, a) >= 0 && CompareText(v, b) <= 0;
      cf.allowed[c] = keep;
    }
  }
  q.code_filters.push_back(std::move(cf));
  return Status::Ok();
}

Result<Plan> MakePlan(const CubeSpec& spec, const olap::Table& table, const QuerySpec& qs, const ExecOptions& o) {
  Plan p;
  for (const auto& d : qs.dimensions) {
    AIMASS_ASSIGN_OR_RETURN(LevelRef r, Resolve(spec, d));
    olap::GroupKey k;
    if (r.time) {
      k.time = true;
      k.level = r.level;
    } else {
      const auto& cols = table.schema.code_columns;
      const auto it = std::find(cols.begin(), cols.end(), r.code_level);
      if (it == cols.end()) return Status::Internal("the table lacks level " + r.code_level);
      k.column = static_cast<size_t>(it - cols.begin());
    }
    p.q.group_by.push_back(k);
    p.levels.push_back(r);
  }
  for (const auto& f : qs.filters) {
    if (!f.measure.empty()) {
      p.having.push_back(f);
      continue;
    }
    AIMASS_RETURN_IF_ERROR(AddFilter(spec, table, f, &p));
  }
  // Aggregates: the measures asked, and those their formulas use.
  std::vector<std::string> wanted;
  auto want = [&](const std::string& m) {
    if (std::find(wanted.begin(), wanted.end(), m) == wanted.end()) wanted.push_back(m);
  };
  for (const auto& m : qs.measures) {
    const MeasureSpec* ms = spec.Measure(m);
    if (ms->agg == MeasureAgg::kDerived) {
      for (const auto& n : olap::Expression::Parse(ms->formula)->Names()) want(n);
    } else {
      want(m);
    }
  }
  for (const auto& m : wanted) {
    const MeasureSpec* ms = spec.Measure(m);
    olap::AggregateSpec a;
    if (ms->rows()) {
      a.agg = olap::Agg::kRows;
    } else {
      int idx = -1;
      for (size_t i = 0; i < table.schema.measures.size(); ++i) {
        if (table.schema.measures[i].name == m) idx = static_cast<int>(i);
      }
      if (idx < 0) return Status::Internal("the table lacks measure " + m);
      a.measure = static_cast<size_t>(idx);
      switch (ms->agg) {
        case MeasureAgg::kSum: a.agg = olap::Agg::kSum; break;
        case MeasureAgg::kCount: a.agg = olap::Agg::kCount; break;
        case MeasureAgg::kAvg: a.agg = olap::Agg::kAvg; break;
        case MeasureAgg::kMin: a.agg = olap::Agg::kMin; break;
        case MeasureAgg::kMax: a.agg = olap::Agg::kMax; break;
        case MeasureAgg::kCountDistinct: a.agg = ms->approximate ? olap::Agg::kApproxDistinct : olap::Agg::kCountDistinct; break;
        case MeasureAgg::kDerived: break;
      }
    }
    p.q.aggregates.push_back(a);
    p.agg_measures.push_back(m);
  }
  p.slots = p.agg_measures;
  for (const auto& m : qs.measures) {
    if (spec.Measure(m)->agg == MeasureAgg::kDerived) p.slots.push_back(m);
  }
  const size_t n = qs.dimensions.size();
  const uint32_t all = n ? (uint32_t{1} << n) - 1 : 0;
  if (qs.totals == "rollup") {
    // ROLLUP(a, b, c): (a, b, c), (a, b), (a), (); a set keeping the first k levels is bits 0..k-1.
    for (size_t keep = n + 1; keep-- > 0;) p.q.grouping_sets.push_back(static_cast<uint32_t>((uint64_t{1} << keep) - 1));
  } else if (qs.totals == "cube") {
    for (uint32_t s = all + 1; s-- > 0;) p.q.grouping_sets.push_back(s);
  }
  p.q.threads = o.threads;
  p.q.memory_limit = o.memory_limit;
  return p;
}

struct Row {
  std::vector<int64_t> keys;
  uint32_t grouping = 0;
  std::vector<std::optional<double>> values;  // by Plan::slots
};

std::vector<Row> Rows(const CubeSpec& spec, const QuerySpec& qs, const Plan& p, olap::AggregationResult& r) {
  // Derived measures: each formula parsed once, its names read from the row's aggregates.
  std::vector<std::pair<size_t, olap::Expression>> derived;
  for (const auto& m : qs.measures) {
    const MeasureSpec* ms = spec.Measure(m);
    if (ms->agg == MeasureAgg::kDerived) derived.emplace_back(p.Slot(m), *olap::Expression::Parse(ms->formula));
  }
  std::vector<std::pair<std::string, std::optional<double>>> names;
  for (const auto& m : p.agg_measures) names.emplace_back(m, std::nullopt);
  std::vector<Row> rows;
  rows.reserve(r.rows.size());
  for (auto& rr : r.rows) {
    Row row{std::move(rr.keys), rr.grouping, std::move(rr.values)};
    row.values.resize(p.slots.size());
    if (!derived.empty()) {
      for (size_t a = 0; a < p.agg_measures.size(); ++a) names[a].second = row.values[a];
      for (const auto& [slot, e] : derived) row.values[slot] = e.EvaluateScalar(names);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool Having(const FilterSpec& f, const std::optional<double>& v) {
  if (!v) return f.op == "ne";
  auto num = [&](size_t i) { return f.values[i].get<double>(); };
  if (f.op == "eq") return *v == num(0);
  if (f.op == "ne") return *v != num(0);
  if (f.op == "gt") return *v > num(0);
  if (f.op == "gte") return *v >= num(0);
  if (f.op == "lt") return *v < num(0);
  if (f.op == "lte") return *v <= num(0);
  return *v >= num(0) && *v <= num(1);
}

json RenderKey(const olap::Table& table, const Plan& p, size_t i, const Row& row) {
  if (row.grouping >> i & 1) return nullptr;
  const LevelRef& l = p.levels[i];
  if (l.time) return olap::RenderKey(l.level, row.keys[i]);
  if (row.keys[i] == 0) return nullptr;
  return table.code_dicts[p.q.group_by[i].column]->value(static_cast<uint32_t>(row.keys[i]));
}

json RenderValue(const MeasureSpec& m, const std::optional<double>& v) {
  if (!v) return nullptr;
  if (IsCountLike(m) || m.rows()) return static_cast<int64_t>(std::llround(*v));
  return *v;
}

}  // namespace

json QuerySpec::ToJson() const {
  json f = json::array();
  for (const auto& x : filters) {
    json o = {{"op", x.op}};
    if (!x.dimension.empty()) o["dimension"] = x.dimension;
    else o["measure"] = x.measure;
    if (x.values.size() == 1 && x.op != "in" && x.op != "not_in") o["value"] = x.values[0];
    else o["values"] = x.values;
    f.push_back(o);
  }
  json ord = json::array();
  for (const auto& o : order) ord.push_back({{"by", o.by}, {"desc", o.desc}});
  json j = {{"measures", measures}, {"dimensions", dimensions}, {"filters", f}, {"order", ord},
            {"limit", limit},       {"offset", offset},         {"totals", totals}};
  if (top) j["top"] = {{"n", top->n}, {"by", top->by}, {"per", top->per}};
  if (compare) j["compare"] = {{"to", *compare == olap::Shift::kPreviousYear ? "previous_year" : "previous_period"}};
  if (!pivot.empty()) j["pivot"] = pivot;
  if (pre_aggregation != "auto") j["pre_aggregation"] = pre_aggregation;
  return j;
}

Result<QuerySpec> ParseQuery(const json& j, const CubeSpec& spec) {
  if (!j.is_object()) return Status::InvalidJson("a query is a JSON object {measures, dimensions, filters, order, limit, totals}");
  QuerySpec q;
  auto strings = [&](const char* key, std::vector<std::string>* out) -> Status {
    if (!j.contains(key) || j[key].is_null()) return Status::Ok();
    if (!j[key].is_array()) return Status::BadRequest(std::string(key) + " is an array of names");
    for (const auto& v : j[key]) {
      if (!v.is_string()) return Status::BadRequest(std::string(key) + " is an array of names");
      out->push_back(v.get<std::string>());
    }
    return Status::Ok();
  };
  AIMASS_RETURN_IF_ERROR(strings("measures", &q.measures));
  AIMASS_RETURN_IF_ERROR(strings("dimensions", &q.dimensions));
  if (q.measures.empty()) return Status::BadRequest("measures names at least one measure");
  if (q.measures.size() > 64 || q.dimensions.size() > 16) return Status::BadRequest("a query has at most 64 measures and 16 dimensions");
  for (const auto& m : q.measures) {
    if (!spec.Measure(m)) return Status::BadRequest("'" + m.substr(0, 128) + "' is not a measure of the cube");
    if (std::count(q.measures.begin(), q.measures.end(), m) > 1) return Status::BadRequest("measure '" + m + "' is asked twice");
  }
  for (const auto& d : q.dimensions) {
    AIMASS_RETURN_IF_ERROR(Resolve(spec, d).status());
    if (std::count(q.dimensions.begin(), q.dimensions.end(), d) > 1) return Status::BadRequest("dimension '" + d + "' is asked twice");
  }
  if (j.contains("filters") && !j["filters"].is_null()) {
    if (!j["filters"].is_array() || j["filters"].size() > 64) return Status::BadRequest("filters is an array of at most 64 {dimension | measure, op, value | values}");
    for (const auto& f : j["filters"]) {
      if (!f.is_object()) return Status::BadRequest("a filter is {dimension | measure, op, value | values}");
      FilterSpec fs;
      if (f.contains("dimension") && f["dimension"].is_string()) fs.dimension = f["dimension"];
      else if (f.contains("measure") && f["measure"].is_string()) fs.measure = f["measure"];
      else return Status::BadRequest("a filter names a dimension or a measure");
      if (!f.contains("op") || !f["op"].is_string()) return Status::BadRequest("a filter's op is one of eq, ne, in, not_in, gt, gte, lt, lte, between, contains, starts_with");
      fs.op = f["op"];
      if (f.contains("values")) {
        if (!f["values"].is_array() || f["values"].size() > kMaxFilterValues) return Status::BadRequest("a filter's values is an array of at most 10,000");
        for (const auto& v : f["values"]) fs.values.push_back(v);
      } else if (f.contains("value")) {
        fs.values.push_back(f["value"]);
      }
      for (const auto& v : fs.values) {
        if (!v.is_string() && !v.is_number() && !v.is_null() && !v.is_boolean()) return Status::BadRequest("filter values are strings, numbers or null");
      }
      const bool multi = fs.op == "in" || fs.op == "not_in";
      const size_t want = fs.op == "between" ? 2 : 1;
      if (!multi && fs.values.size() != want) return Status::BadRequest("op " + fs.op + " takes " + (want == 2 ? "two values" : "one value"));
      if (multi && fs.values.empty()) return Status::BadRequest("op " + fs.op + " takes values: [...]");
      if (!fs.dimension.empty()) {
        if (!kDimOps.count(fs.op)) return Status::BadRequest("op '" + fs.op.substr(0, 32) + "' is not one of eq, ne, in, not_in, gt, gte, lt, lte, between, contains, starts_with");
        AIMASS_RETURN_IF_ERROR(Resolve(spec, fs.dimension).status());
      } else {
        if (!kMeasureOps.count(fs.op)) return Status::BadRequest("a measure filter's op is one of eq, ne, gt, gte, lt, lte, between");
        if (std::find(q.measures.begin(), q.measures.end(), fs.measure) == q.measures.end()) {
          return Status::BadRequest("a measure filter's measure ('" + fs.measure.substr(0, 128) + "') is one the query asks for");
        }
        for (const auto& v : fs.values) {
          if (!v.is_number()) return Status::BadRequest("a measure filter compares with numbers");
        }
      }
      q.filters.push_back(std::move(fs));
    }
  }
  auto known_column = [&](const std::string& s) {
    return std::find(q.measures.begin(), q.measures.end(), s) != q.measures.end() ||
           std::find(q.dimensions.begin(), q.dimensions.end(), s) != q.dimensions.end();
  };
  if (j.contains("order") && !j["order"].is_null()) {
    json order = j["order"];
    if (order.is_object()) {  // {"revenue": "desc"}
      json arr = json::array();
      for (const auto& [k, v] : order.items()) arr.push_back({{"by", k}, {"desc", v == "desc"}});
      order = arr;
    }
    if (!order.is_array() || order.size() > 32) return Status::BadRequest("order is an array of {by, desc} or \"-name\"");
    for (const auto& o : order) {
      OrderSpec os;
      if (o.is_string()) {
        os.by = o.get<std::string>();
        if (!os.by.empty() && os.by[0] == '-') os.desc = true, os.by = os.by.substr(1);
      } else if (o.is_object() && o.contains("by") && o["by"].is_string()) {
        os.by = o["by"];
        if (o.contains("desc")) {
          if (!o["desc"].is_boolean()) return Status::BadRequest("order's desc is true or false");
          os.desc = o["desc"];
        }
      } else {
        return Status::BadRequest("order is an array of {by, desc} or \"-name\"");
      }
      if (!known_column(os.by)) return Status::BadRequest("order by '" + os.by.substr(0, 128) + "': it is not among the query's measures and dimensions");
      q.order.push_back(os);
    }
  }
  auto count = [&](const char* key, size_t lo, size_t hi, size_t* out) -> Status {
    if (!j.contains(key) || j[key].is_null()) return Status::Ok();
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < static_cast<int64_t>(lo) || j[key].get<int64_t>() > static_cast<int64_t>(hi)) {
      return Status::BadRequest(std::string(key) + " is a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    *out = static_cast<size_t>(j[key].get<int64_t>());
    return Status::Ok();
  };
  AIMASS_RETURN_IF_ERROR(count("limit", 1, kMaxLimit, &q.limit));
  AIMASS_RETURN_IF_ERROR(count("offset", 0, 100000000, &q.offset));
  if (j.contains("totals") && !j["totals"].is_null()) {
    if (!j["totals"].is_string() || (j["totals"] != "none" && j["totals"] != "rollup" && j["totals"] != "cube")) {
      return Status::BadRequest("totals is none, rollup or cube");
    }
    q.totals = j["totals"];
    if (q.totals == "cube" && q.dimensions.size() > kMaxCubeDimensions) return Status::BadRequest("totals: cube takes at most 8 dimensions");
  }
  if (j.contains("top") && !j["top"].is_null()) {
    const json& t = j["top"];
    if (!t.is_object() || !t.contains("n") || !t["n"].is_number_integer() || t["n"].get<int64_t>() < 1 || t["n"].get<int64_t>() > 10000 ||
        !t.contains("by") || !t["by"].is_string()) {
      return Status::BadRequest("top is {n (1-10,000), by (a measure), per: [levels]}");
    }
    TopSpec ts;
    ts.n = static_cast<size_t>(t["n"].get<int64_t>());
    ts.by = t["by"];
    if (std::find(q.measures.begin(), q.measures.end(), ts.by) == q.measures.end()) return Status::BadRequest("top.by is one of the query's measures");
    if (t.contains("per")) {
      if (!t["per"].is_array()) return Status::BadRequest("top.per is an array of the query's dimensions");
      for (const auto& p : t["per"]) {
        if (!p.is_string() || std::find(q.dimensions.begin(), q.dimensions.end(), p.get<std::string>()) == q.dimensions.end()) {
          return Status::BadRequest("top.per is an array of the query's dimensions");
        }
        ts.per.push_back(p);
      }
    }
    q.top = ts;
  }
  if (j.contains("compare") && !j["compare"].is_null()) {
    const json& c = j["compare"];
    const json to = c.is_object() ? c.value("to", json()) : c;
    if (to == "previous_period") q.compare = olap::Shift::kPreviousPeriod;
    else if (to == "previous_year") q.compare = olap::Shift::kPreviousYear;
    else return Status::BadRequest("compare is {to: previous_period | previous_year}");
    int times = 0;
    for (const auto& d : q.dimensions) {
      auto r = Resolve(spec, d);
      if (r->time && olap::IsHierarchical(r->level)) ++times;
    }
    if (times != 1) return Status::BadRequest("compare needs the query to group by one time level (year, quarter, month, week, day or hour)");
  }
  AIMASS_RETURN_IF_ERROR(strings("pivot", &q.pivot));
  for (const auto& p : q.pivot) {
    if (std::find(q.dimensions.begin(), q.dimensions.end(), p) == q.dimensions.end()) return Status::BadRequest("pivot names dimensions of the query");
  }
  if (j.contains("pre_aggregation") && !j["pre_aggregation"].is_null()) {
    if (!j["pre_aggregation"].is_string()) return Status::BadRequest("pre_aggregation is auto, none or a name");
    q.pre_aggregation = j["pre_aggregation"];
    if (q.pre_aggregation != "auto" && q.pre_aggregation != "none") {
      bool found = false;
      for (const auto& p : spec.pre_aggregations) found |= p.name == q.pre_aggregation;
      if (!found) return Status::BadRequest("the cube has no pre-aggregation '" + q.pre_aggregation.substr(0, 64) + "'");
    }
  }
  static const std::set<std::string> kKeys = {"measures", "dimensions", "filters", "order", "limit", "offset",
                                              "totals", "top", "compare", "pivot", "pre_aggregation"};
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) return Status::BadRequest("a query has no field '" + k.substr(0, 64) + "'");
  }
  return q;
}

Result<QueryNeeds> NeedsOf(const CubeSpec& spec, const QuerySpec& q) {
  QueryNeeds n;
  auto add = [&](const std::string& level) -> Status {
    AIMASS_ASSIGN_OR_RETURN(LevelRef r, Resolve(spec, level));
    if (r.time) n.time_levels.insert(r.level);
    else n.code_levels.insert(r.code_level);
    return Status::Ok();
  };
  for (const auto& d : q.dimensions) AIMASS_RETURN_IF_ERROR(add(d));
  for (const auto& f : q.filters) {
    if (f.dimension.empty()) continue;
    AIMASS_ASSIGN_OR_RETURN(LevelRef r, Resolve(spec, f.dimension));
    if (!r.time) {
      n.code_levels.insert(r.code_level);
    } else if (r.bare_time) {
      for (const auto& v : f.values) {
        AIMASS_ASSIGN_OR_RETURN(auto p, TimePeriod(v));
        n.time_bounds.push_back(p.first);
        n.time_bounds.push_back(p.second);
      }
    } else {
      n.time_levels.insert(r.level);
    }
  }
  return n;
}

bool CanAnswer(const olap::Table& table, const QueryNeeds& needs) {
  for (const auto& l : needs.code_levels) {
    if (std::find(table.schema.code_columns.begin(), table.schema.code_columns.end(), l) == table.schema.code_columns.end()) return false;
  }
  if (needs.time_levels.empty() && needs.time_bounds.empty()) return true;
  if (!table.schema.has_time) return false;
  if (!table.schema.time_level) return true;
  const TimeLevel g = *table.schema.time_level;
  // A level is derivable when each of the table's periods lies in one of its periods.
  auto derivable = [&](TimeLevel l) {
    switch (g) {
      case TimeLevel::kHour: return true;
      case TimeLevel::kDay: return l != TimeLevel::kHour && l != TimeLevel::kHourOfDay;
      case TimeLevel::kWeek: return l == TimeLevel::kWeek;
      case TimeLevel::kMonth: return l == TimeLevel::kMonth || l == TimeLevel::kQuarter || l == TimeLevel::kYear;
      case TimeLevel::kQuarter: return l == TimeLevel::kQuarter || l == TimeLevel::kYear;
      default: return l == TimeLevel::kYear;
    }
  };
  for (TimeLevel l : needs.time_levels) {
    if (!derivable(l)) return false;
  }
  for (int64_t b : needs.time_bounds) {
    if (olap::KeyStart(g, olap::LevelKey(g, b)) != b) return false;
  }
  return true;
}

Result<json> Execute(const CubeSpec& spec, const olap::Table& table, const QuerySpec& qs, const ExecOptions& o, QueryStats* stats) {
  AIMASS_ASSIGN_OR_RETURN(Plan p, MakePlan(spec, table, qs, o));
  AIMASS_ASSIGN_OR_RETURN(olap::AggregationResult r, olap::Aggregate(table, p.q));
  if (stats) {
    stats->rows_scanned += r.rows_scanned;
    stats->chunks_skipped += r.chunks_skipped;
    stats->memory_used = std::max(stats->memory_used, r.memory_used);
  }
  std::vector<Row> rows = Rows(spec, qs, p, r);
  // As in SQL, the grand total (a query without levels, or the totals' last set) is a row even
  // when no row matched: counts 0, the rest null.
  const size_t nlev = qs.dimensions.size();
  const uint32_t grand = nlev ? (uint32_t{1} << nlev) - 1 : 0;
  if ((nlev == 0 || qs.totals != "none") &&
      std::none_of(rows.begin(), rows.end(), [&](const Row& row) { return row.grouping == grand; })) {
    Row g{std::vector<int64_t>(nlev, 0), grand, std::vector<std::optional<double>>(p.slots.size())};
    for (size_t a = 0; a < p.agg_measures.size(); ++a) {
      const olap::Agg agg = p.q.aggregates[a].agg;
      if (agg == olap::Agg::kRows || agg == olap::Agg::kCount || agg == olap::Agg::kCountDistinct || agg == olap::Agg::kApproxDistinct) g.values[a] = 0.0;
    }
    rows.push_back(std::move(g));
  }

  // Period over period: the same query over the previous periods (its time filters moved
  // back), joined on the shifted time key and the other keys.
  size_t time_index = 0;
  std::map<std::pair<uint32_t, std::vector<int64_t>>, const Row*> previous;
  std::vector<Row> prev_rows;
  if (qs.compare) {
    for (size_t i = 0; i < p.levels.size(); ++i) {
      if (p.levels[i].time && olap::IsHierarchical(p.levels[i].level)) time_index = i;
    }
    const TimeLevel level = p.levels[time_index].level;
    Plan pp = p;
    auto shift = [&](int64_t t) { return olap::ShiftTime(level, t, *qs.compare); };
    if (pp.q.time_from != std::numeric_limits<int64_t>::min()) pp.q.time_from = shift(pp.q.time_from);
    if (pp.q.time_to != std::numeric_limits<int64_t>::max()) pp.q.time_to = shift(pp.q.time_to);
    for (auto& kf : pp.q.time_key_filters) {
      if (!olap::IsHierarchical(kf.level)) continue;
      for (auto& k : kf.keys) k = olap::ShiftKey(kf.level, k, *qs.compare);
      std::sort(kf.keys.begin(), kf.keys.end());
    }
    AIMASS_ASSIGN_OR_RETURN(olap::AggregationResult pr, olap::Aggregate(table, pp.q));
    if (stats) stats->rows_scanned += pr.rows_scanned, stats->chunks_skipped += pr.chunks_skipped;
    prev_rows = Rows(spec, qs, pp, pr);
    for (const auto& row : prev_rows) previous[{row.grouping, row.keys}] = &row;
  }

  // Measure filters, then top-N per group among the finest rows.
  std::vector<Row> kept;
  for (auto& row : rows) {
    bool ok = true;
    for (const auto& f : p.having) ok = ok && Having(f, row.values[p.Slot(f.measure)]);
    if (ok) kept.push_back(std::move(row));
  }
  rows = std::move(kept);
  const size_t nd = qs.dimensions.size();
  auto key_text = [&](const Row& row, size_t i) { return RenderKey(table, p, i, row); };
  // Default order: each level in turn, totals after the groups they total, nulls last. A coded
  // level's values are ranked once (numbers as numbers, then text), not compared per pair.
  std::vector<std::vector<uint32_t>> rank(nd);  // by code
  for (size_t i = 0; i < nd; ++i) {
    if (p.levels[i].time) continue;
    std::vector<int64_t> codes;
    for (const auto& row : rows) {
      if (!(row.grouping >> i & 1) && row.keys[i] != 0) codes.push_back(row.keys[i]);
    }
    std::sort(codes.begin(), codes.end());
    codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
    const olap::Dictionary& d = *table.code_dicts[p.q.group_by[i].column];
    struct Key {
      std::optional<double> number;
      const std::string* text;
      int64_t code;
    };
    std::vector<Key> keys;
    keys.reserve(codes.size());
    for (int64_t c : codes) keys.push_back({Number(d.value(static_cast<uint32_t>(c))), &d.value(static_cast<uint32_t>(c)), c});
    std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
      if (a.number.has_value() != b.number.has_value()) return a.number.has_value();  // numbers first
      if (a.number && *a.number != *b.number) return *a.number < *b.number;
      return *a.text < *b.text;
    });
    rank[i].assign(d.size(), 0);
    for (uint32_t k = 0; k < keys.size(); ++k) rank[i][static_cast<size_t>(keys[k].code)] = k;
  }
  auto level_less = [&](const Row& a, const Row& b, size_t i) -> int {
    const bool ra = a.grouping >> i & 1, rb = b.grouping >> i & 1;
    if (ra != rb) return ra ? 1 : -1;
    if (ra) return 0;
    if (p.levels[i].time) return a.keys[i] < b.keys[i] ? -1 : a.keys[i] > b.keys[i] ? 1 : 0;
    if (a.keys[i] == b.keys[i]) return 0;
    if (a.keys[i] == 0) return 1;
    if (b.keys[i] == 0) return -1;
    return rank[i][static_cast<size_t>(a.keys[i])] < rank[i][static_cast<size_t>(b.keys[i])] ? -1 : 1;
  };
  auto by_levels = [&](const Row& a, const Row& b) {
    for (size_t i = 0; i < nd; ++i) {
      const int c = level_less(a, b, i);
      if (c) return c < 0;
    }
    return false;
  };
  if (qs.top) {
    const size_t top_slot = p.Slot(qs.top->by);
    std::vector<size_t> per;
    for (const auto& d : qs.top->per) per.push_back(static_cast<size_t>(std::find(qs.dimensions.begin(), qs.dimensions.end(), d) - qs.dimensions.begin()));
    // The finest rows in order of their `per` keys, the best first within each; keep n of a run.
    std::vector<size_t> idx;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].grouping == 0) idx.push_back(i);
    }
    auto same_group = [&](size_t a, size_t b) {
      for (size_t x : per) {
        if (rows[a].keys[x] != rows[b].keys[x]) return false;
      }
      return true;
    };
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      for (size_t x : per) {
        if (rows[a].keys[x] != rows[b].keys[x]) return rows[a].keys[x] < rows[b].keys[x];
      }
      const auto& va = rows[a].values[top_slot];
      const auto& vb = rows[b].values[top_slot];
      if (!va || !vb) return va.has_value() && !vb.has_value();
      return *va > *vb;
    });
    std::vector<uint8_t> drop(rows.size(), 0);
    size_t run = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      run = (k > 0 && same_group(idx[k - 1], idx[k])) ? run + 1 : 0;
      if (run >= qs.top->n) drop[idx[k]] = 1;
    }
    std::vector<Row> topped;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!drop[i]) topped.push_back(std::move(rows[i]));
    }
    rows = std::move(topped);
  }
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    for (const auto& o : qs.order) {
      const auto d = std::find(qs.dimensions.begin(), qs.dimensions.end(), o.by);
      int c = 0;
      if (d != qs.dimensions.end()) {
        c = level_less(a, b, static_cast<size_t>(d - qs.dimensions.begin()));
        if (c && (a.grouping | b.grouping) >> (d - qs.dimensions.begin()) & 1) return c < 0;  // totals stay after
      } else {
        const auto& va = a.values[p.Slot(o.by)];
        const auto& vb = b.values[p.Slot(o.by)];
        if (va.has_value() != vb.has_value()) return va.has_value();  // nulls last either way
        if (va && *va != *vb) c = *va < *vb ? -1 : 1;
      }
      if (c) return o.desc ? c > 0 : c < 0;
    }
    return by_levels(a, b);
  });

  json columns = json::array();
  for (const auto& d : qs.dimensions) columns.push_back({{"name", d}, {"kind", "dimension"}});
  for (const auto& m : qs.measures) {
    const MeasureSpec* ms = spec.Measure(m);
    columns.push_back({{"name", m}, {"kind", "measure"}, {"agg", ms->rows() ? "count" : AggName(ms->agg)}});
  }
  if (qs.compare) {
    for (const auto& m : qs.measures) {
      columns.push_back({{"name", m + ".previous"}, {"kind", "previous"}, {"measure", m}});
      columns.push_back({{"name", m + ".change"}, {"kind", "change"}, {"measure", m}});
    }
  }
  const bool time_filtered = p.q.time_from != std::numeric_limits<int64_t>::min() || p.q.time_to != std::numeric_limits<int64_t>::max() ||
                             std::any_of(p.q.time_key_filters.begin(), p.q.time_key_filters.end(),
                                         [](const olap::TimeKeyFilter& f) { return olap::IsHierarchical(f.level); });
  std::vector<const MeasureSpec*> measure_specs;
  std::vector<size_t> measure_slots;
  for (const auto& m : qs.measures) measure_specs.push_back(spec.Measure(m)), measure_slots.push_back(p.Slot(m));
  json out_rows = json::array();
  const size_t total = rows.size();
  const size_t end = std::min(total, qs.offset + qs.limit);
  for (size_t i = qs.offset; i < end; ++i) {
    const Row& row = rows[i];
    json o = json::object();
    json grouping = json::array();
    for (size_t k = 0; k < nd; ++k) {
      o[qs.dimensions[k]] = key_text(row, k);
      grouping.push_back(row.grouping >> k & 1);
    }
    for (size_t k = 0; k < qs.measures.size(); ++k) o[qs.measures[k]] = RenderValue(*measure_specs[k], row.values[measure_slots[k]]);
    if (qs.compare) {
      std::vector<int64_t> k = row.keys;
      const bool time_total = row.grouping >> time_index & 1;
      const TimeLevel level = p.levels[time_index].level;
      if (!time_total) k[time_index] = olap::ShiftKey(level, k[time_index], *qs.compare);
      auto it = previous.find({row.grouping, k});
      // A period before the data began has no value, not a zero; nor has a total over all
      // time (the shifted window is the same one).
      const bool before_data = time_total ? !time_filtered : olap::KeyStart(level, k[time_index] + 1) <= table.time_min;
      for (const auto& m : qs.measures) {
        std::optional<double> prev;
        if (before_data) prev.reset();
        else if (it != previous.end()) prev = it->second->values[p.Slot(m)];
        else if (IsCountLike(*spec.Measure(m)) || spec.Measure(m)->rows() || spec.Measure(m)->agg == MeasureAgg::kSum) prev = 0.0;
        const auto& cur = row.values[p.Slot(m)];
        o[m + ".previous"] = RenderValue(*spec.Measure(m), prev);
        o[m + ".change"] = (cur && prev && *prev != 0) ? json((*cur - *prev) / std::fabs(*prev)) : json(nullptr);
      }
    }
    if (qs.totals != "none") o["grouping"] = grouping;
    out_rows.push_back(std::move(o));
  }
  json answer = json::object();
  answer["columns"] = std::move(columns);
  answer["rows"] = std::move(out_rows);
  answer["total_rows"] = total;
  if (!qs.pivot.empty()) {
    // Rows keyed by the other levels, a column per combination of the pivot levels' values.
    std::vector<size_t> piv, other;
    for (size_t k = 0; k < nd; ++k) {
      (std::find(qs.pivot.begin(), qs.pivot.end(), qs.dimensions[k]) != qs.pivot.end() ? piv : other).push_back(k);
    }
    std::vector<const Row*> finest;
    for (const auto& row : rows) {
      if (row.grouping == 0) finest.push_back(&row);
    }
    std::vector<const Row*> col_rows = finest;
    std::stable_sort(col_rows.begin(), col_rows.end(), [&](const Row* a, const Row* b) {
      for (size_t k : piv) {
        const int c = level_less(*a, *b, k);
        if (c) return c < 0;
      }
      return false;
    });
    std::map<std::vector<int64_t>, size_t> col_at, row_at;
    json pcols = json::array(), prows = json::array();
    for (const Row* r : col_rows) {
      std::vector<int64_t> k;
      for (size_t x : piv) k.push_back(r->keys[x]);
      if (col_at.emplace(k, col_at.size()).second) {
        json c = json::array();
        for (size_t x : piv) c.push_back(key_text(*r, x));
        pcols.push_back(c);
      }
    }
    if (col_at.size() > 10000) return Status::TooLarge("the pivot would have more than 10,000 columns: filter its levels");
    for (const Row* r : finest) {
      std::vector<int64_t> rk, ck;
      for (size_t x : other) rk.push_back(r->keys[x]);
      for (size_t x : piv) ck.push_back(r->keys[x]);
      auto [it, added] = row_at.emplace(rk, prows.size());
      if (added) {
        json keys = json::object();
        for (size_t x : other) keys[qs.dimensions[x]] = key_text(*r, x);
        prows.push_back({{"keys", keys}, {"cells", json::array()}});
        for (size_t c = 0; c < col_at.size(); ++c) prows.back()["cells"].push_back(nullptr);
      }
      json cell = json::object();
      for (size_t k = 0; k < qs.measures.size(); ++k) cell[qs.measures[k]] = RenderValue(*measure_specs[k], r->values[measure_slots[k]]);
      prows[it->second]["cells"][col_at[ck]] = cell;
    }
    answer["pivot"] = {{"dimensions", qs.pivot}, {"columns", pcols}, {"rows", prows}};
  }
  return answer;
}

Result<QuerySpec> Drill(const CubeSpec& spec, QuerySpec q, const std::string& level, const std::optional<json>& value, bool down) {
  auto at = std::find(q.dimensions.begin(), q.dimensions.end(), level);
  if (at == q.dimensions.end()) return Status::BadRequest("the query does not group by '" + level.substr(0, 128) + "'");
  AIMASS_ASSIGN_OR_RETURN(LevelRef r, Resolve(spec, level));
  const DimensionSpec* dim = spec.DimensionOf(level);
  // The levels of the dimension from coarse to fine, as queries name them.
  std::vector<std::string> path;
  if (dim->time) {
    for (TimeLevel l = TimeLevel::kYear;; l = *olap::FinerLevel(l)) {
      path.push_back(dim->name + "." + std::string(olap::TimeLevelName(l)));
      if (!olap::FinerLevel(l)) break;
    }
    if (!olap::IsHierarchical(r.level)) return Status::BadRequest(level + " is not on the calendar's hierarchy");
  } else {
    for (const auto& l : dim->levels) path.push_back(l.name);
  }
  const std::string here = r.bare_time ? dim->name + ".day" : level;
  const size_t i = static_cast<size_t>(std::find(path.begin(), path.end(), here) - path.begin());
  // What named the level (order, top-N's groups, pivot) names its replacement.
  auto rename = [&](const std::string& to) {
    if (std::find(q.dimensions.begin(), q.dimensions.end(), to) != q.dimensions.end()) {
      return Status::BadRequest("the query already groups by " + to);
    }
    *at = to;
    for (auto& o : q.order) {
      if (o.by == level) o.by = to;
    }
    if (q.top) {
      for (auto& p : q.top->per) {
        if (p == level) p = to;
      }
    }
    for (auto& p : q.pivot) {
      if (p == level) p = to;
    }
    return Status::Ok();
  };
  if (down) {
    if (i + 1 >= path.size()) return Status::BadRequest(level + " is the finest level of " + dim->name);
    if (!value) return Status::BadRequest("drilling down takes the value to drill into");
    q.filters.push_back({level, "", "eq", {*value}});
    AIMASS_RETURN_IF_ERROR(rename(path[i + 1]));
  } else {
    if (i == 0) return Status::BadRequest(level + " is the coarsest level of " + dim->name);
    AIMASS_RETURN_IF_ERROR(rename(path[i - 1]));
    // The filters that drilling down into the new level (and finer ones) added go.
    std::vector<FilterSpec> kept;
    for (auto& f : q.filters) {
      const auto fi = std::find(path.begin(), path.end(), f.dimension);
      if (fi != path.end() && static_cast<size_t>(fi - path.begin()) >= i - 1 && f.op == "eq") continue;
      kept.push_back(std::move(f));
    }
    q.filters = std::move(kept);
  }
  return q;
}

}  // namespace aimass::cube
