#include "cube/cube_spec.hpp"

#include <set>

#include "common/name.hpp"

namespace aimass::cube {

using nlohmann::json;

namespace {

constexpr size_t kMaxDimensions = 64;
constexpr size_t kMaxMeasures = 128;
constexpr size_t kMaxLevels = 8;
constexpr size_t kMaxPreAggregations = 32;

// Dimension, level and measure names: queries write them bare and join levels with a dot.
Status CheckIdent(const std::string& kind, const std::string& s) {
  bool ok = !s.empty() && s.size() <= 64 && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_');
  for (char c : s) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!ok) return Status::BadRequest(kind + " '" + s.substr(0, 64) + "' is not a name: letters, digits and _, at most 64, not starting with a digit");
  return Status::Ok();
}

Result<std::string> Str(const json& o, const char* key, const std::string& where, bool required) {
  if (!o.contains(key) || o[key].is_null()) {
    if (required) return Status::BadRequest(where + "." + key + " is required");
    return std::string();
  }
  if (!o[key].is_string()) return Status::BadRequest(where + "." + key + " is a string");
  const std::string v = o[key].get<std::string>();
  if (v.size() > 4096) return Status::BadRequest(where + "." + key + " is at most 4096 bytes");
  return v;
}

Result<LevelSpec> ParseLevel(const json& l, const std::string& dim, const std::string& where) {
  if (!l.is_object()) return Status::BadRequest(where + " is an object {name, column, prefix | map, default}");
  LevelSpec s;
  AIMASS_ASSIGN_OR_RETURN(std::string name, Str(l, "name", where, true));
  AIMASS_RETURN_IF_ERROR(CheckIdent("level", name));
  s.name = dim + "." + name;
  AIMASS_ASSIGN_OR_RETURN(s.column, Str(l, "column", where, true));
  if (l.contains("prefix")) {
    if (!l["prefix"].is_number_integer() || l["prefix"].get<int64_t>() < 1 || l["prefix"].get<int64_t>() > 1024) {
      return Status::BadRequest(where + ".prefix is a whole number from 1 to 1024");
    }
    s.prefix = static_cast<int>(l["prefix"].get<int64_t>());
  }
  if (l.contains("map")) {
    if (!l["map"].is_object()) return Status::BadRequest(where + ".map is an object of value: level value");
    if (l["map"].size() > 100000) return Status::BadRequest(where + ".map has at most 100,000 entries");
    for (const auto& [k, v] : l["map"].items()) {
      if (!v.is_string()) return Status::BadRequest(where + ".map's values are strings");
      s.map[k] = v.get<std::string>();
    }
    if (s.prefix) return Status::BadRequest(where + " has a prefix or a map, not both");
  }
  if (l.contains("default")) {
    if (!l["default"].is_string()) return Status::BadRequest(where + ".default is a string");
    if (s.map.empty()) return Status::BadRequest(where + ".default goes with a map");
    s.map_default = l["default"].get<std::string>();
  }
  for (const auto& [k, v] : l.items()) {
    if (k != "name" && k != "column" && k != "prefix" && k != "map" && k != "default") return Status::BadRequest(where + " has an unknown field '" + k + "'");
  }
  return s;
}

Result<MeasureAgg> ParseAgg(const std::string& a) {
  if (a == "sum") return MeasureAgg::kSum;
  if (a == "count") return MeasureAgg::kCount;
  if (a == "avg") return MeasureAgg::kAvg;
  if (a == "min") return MeasureAgg::kMin;
  if (a == "max") return MeasureAgg::kMax;
  if (a == "count_distinct") return MeasureAgg::kCountDistinct;
  return Status::BadRequest("agg '" + a.substr(0, 64) + "' is not one of sum, count, avg, min, max, count_distinct");
}

}  // namespace

std::string AggName(MeasureAgg agg) {
  switch (agg) {
    case MeasureAgg::kSum: return "sum";
    case MeasureAgg::kCount: return "count";
    case MeasureAgg::kAvg: return "avg";
    case MeasureAgg::kMin: return "min";
    case MeasureAgg::kMax: return "max";
    case MeasureAgg::kCountDistinct: return "count_distinct";
    case MeasureAgg::kDerived: return "derived";
  }
  return "";
}

Result<CubeSpec> CubeSpec::Parse(const json& j) {
  if (!j.is_object()) return Status::InvalidJson("a cube is a JSON object {name, source, dimensions, measures}");
  CubeSpec c;
  AIMASS_ASSIGN_OR_RETURN(c.name, Str(j, "name", "cube", true));
  AIMASS_RETURN_IF_ERROR(ValidateName("cube name", c.name, 64));
  AIMASS_ASSIGN_OR_RETURN(c.description, Str(j, "description", "cube", false));
  if (!j.contains("source") || !j["source"].is_object()) return Status::BadRequest("source is required: {dataset, version}");
  const json& src = j["source"];
  AIMASS_ASSIGN_OR_RETURN(c.dataset, Str(src, "dataset", "source", true));
  if (src.contains("version") && !src["version"].is_null()) {
    if (src["version"].is_number_integer()) c.version = std::to_string(src["version"].get<int64_t>());
    else if (src["version"].is_string()) c.version = src["version"].get<std::string>();
    else return Status::BadRequest("source.version is a number, an alias or \"latest\"");
  }
  std::set<std::string> names;  // levels and measures share one namespace: a query names either
  if (!j.contains("dimensions") || !j["dimensions"].is_array() || j["dimensions"].empty()) {
    return Status::BadRequest("dimensions is a non-empty array of {name, column, type, hierarchy}");
  }
  if (j["dimensions"].size() > kMaxDimensions) return Status::BadRequest("a cube has at most 64 dimensions");
  bool has_time = false;
  for (size_t i = 0; i < j["dimensions"].size(); ++i) {
    const json& d = j["dimensions"][i];
    const std::string where = "dimensions[" + std::to_string(i) + "]";
    if (!d.is_object()) return Status::BadRequest(where + " is an object {name, column, type, hierarchy}");
    DimensionSpec ds;
    AIMASS_ASSIGN_OR_RETURN(ds.name, Str(d, "name", where, true));
    AIMASS_RETURN_IF_ERROR(CheckIdent("dimension", ds.name));
    AIMASS_ASSIGN_OR_RETURN(ds.column, Str(d, "column", where, true));
    AIMASS_ASSIGN_OR_RETURN(std::string type, Str(d, "type", where, false));
    if (!type.empty() && type != "time" && type != "string") return Status::BadRequest(where + ".type is time or string");
    ds.time = type == "time";
    if (!names.insert(ds.name).second) return Status::BadRequest("'" + ds.name + "' is named twice");
    if (ds.time) {
      if (has_time) return Status::BadRequest("a cube has one time dimension");
      has_time = true;
      if (d.contains("hierarchy")) return Status::BadRequest(where + ": a time dimension's hierarchy is its calendar (year › quarter › month › week › day › hour)");
    } else {
      if (d.contains("hierarchy")) {
        if (!d["hierarchy"].is_array() || d["hierarchy"].size() > kMaxLevels) {
          return Status::BadRequest(where + ".hierarchy is an array of at most 8 levels {name, column, prefix | map}, coarsest first");
        }
        for (size_t k = 0; k < d["hierarchy"].size(); ++k) {
          AIMASS_ASSIGN_OR_RETURN(LevelSpec l, ParseLevel(d["hierarchy"][k], ds.name, where + ".hierarchy[" + std::to_string(k) + "]"));
          if (!names.insert(l.name).second) return Status::BadRequest("'" + l.name + "' is named twice");
          ds.levels.push_back(std::move(l));
        }
      }
      LevelSpec own;
      own.name = ds.name;
      own.column = ds.column;
      ds.levels.push_back(std::move(own));
    }
    for (const auto& [k, v] : d.items()) {
      if (k != "name" && k != "column" && k != "type" && k != "hierarchy") return Status::BadRequest(where + " has an unknown field '" + k + "'");
    }
    c.dimensions.push_back(std::move(ds));
  }
  if (!j.contains("measures") || !j["measures"].is_array() || j["measures"].empty()) {
    return Status::BadRequest("measures is a non-empty array of {name, agg, column | expr} or {name, formula}");
  }
  if (j["measures"].size() > kMaxMeasures) return Status::BadRequest("a cube has at most 128 measures");
  for (size_t i = 0; i < j["measures"].size(); ++i) {
    const json& m = j["measures"][i];
    const std::string where = "measures[" + std::to_string(i) + "]";
    if (!m.is_object()) return Status::BadRequest(where + " is an object {name, agg, column | expr, filter, approximate} or {name, formula}");
    MeasureSpec ms;
    AIMASS_ASSIGN_OR_RETURN(ms.name, Str(m, "name", where, true));
    AIMASS_RETURN_IF_ERROR(CheckIdent("measure", ms.name));
    if (!names.insert(ms.name).second) return Status::BadRequest("'" + ms.name + "' is named twice");
    AIMASS_ASSIGN_OR_RETURN(ms.column, Str(m, "column", where, false));
    AIMASS_ASSIGN_OR_RETURN(ms.expr, Str(m, "expr", where, false));
    AIMASS_ASSIGN_OR_RETURN(ms.filter, Str(m, "filter", where, false));
    AIMASS_ASSIGN_OR_RETURN(ms.formula, Str(m, "formula", where, false));
    if (m.contains("approximate")) {
      if (!m["approximate"].is_boolean()) return Status::BadRequest(where + ".approximate is true or false");
      ms.approximate = m["approximate"].get<bool>();
    }
    if (!ms.formula.empty()) {
      if (!ms.column.empty() || !ms.expr.empty() || !ms.filter.empty() || m.contains("agg")) {
        return Status::BadRequest(where + ": a derived measure has a formula and nothing else");
      }
      ms.agg = MeasureAgg::kDerived;
      AIMASS_ASSIGN_OR_RETURN(olap::Expression f, olap::Expression::Parse(ms.formula));
      (void)f;
    } else {
      AIMASS_ASSIGN_OR_RETURN(std::string agg, Str(m, "agg", where, true));
      AIMASS_ASSIGN_OR_RETURN(ms.agg, ParseAgg(agg));
      if (!ms.column.empty() && !ms.expr.empty()) return Status::BadRequest(where + " has a column or an expr, not both");
      if (ms.column.empty() && ms.expr.empty() && ms.agg != MeasureAgg::kCount) return Status::BadRequest(where + " needs a column or an expr");
      if (ms.agg == MeasureAgg::kCountDistinct && ms.column.empty()) return Status::BadRequest(where + ": count_distinct counts a column's values");
      if (ms.approximate && ms.agg != MeasureAgg::kCountDistinct) return Status::BadRequest(where + ".approximate is for count_distinct");
      if (!ms.expr.empty()) AIMASS_RETURN_IF_ERROR(olap::Expression::Parse(ms.expr).status());
      if (!ms.filter.empty()) AIMASS_RETURN_IF_ERROR(olap::Expression::Parse(ms.filter).status());
    }
    for (const auto& [k, v] : m.items()) {
      if (k != "name" && k != "agg" && k != "column" && k != "expr" && k != "filter" && k != "formula" && k != "approximate") {
        return Status::BadRequest(where + " has an unknown field '" + k + "'");
      }
    }
    c.measures.push_back(std::move(ms));
  }
  // Derived measures name other measures, and none may lead back to itself.
  for (const auto& m : c.measures) {
    if (m.agg != MeasureAgg::kDerived) continue;
    for (const auto& n : olap::Expression::Parse(m.formula)->Names()) {
      const MeasureSpec* used = c.Measure(n);
      if (!used) return Status::BadRequest("measure '" + m.name + "' uses '" + n + "', which is not a measure");
      if (used->agg == MeasureAgg::kDerived) return Status::BadRequest("measure '" + m.name + "' uses derived measure '" + n + "': a formula uses measures with an agg");
    }
  }
  if (j.contains("pre_aggregations")) {
    const json& pa = j["pre_aggregations"];
    if (!pa.is_array() || pa.size() > kMaxPreAggregations) return Status::BadRequest("pre_aggregations is an array of at most 32 {name, dimensions}");
    std::set<std::string> seen;
    for (size_t i = 0; i < pa.size(); ++i) {
      const std::string where = "pre_aggregations[" + std::to_string(i) + "]";
      if (!pa[i].is_object()) return Status::BadRequest(where + " is an object {name, dimensions}");
      PreAggregationSpec p;
      AIMASS_ASSIGN_OR_RETURN(p.name, Str(pa[i], "name", where, true));
      AIMASS_RETURN_IF_ERROR(ValidateName("pre-aggregation name", p.name, 64));
      if (!seen.insert(p.name).second) return Status::BadRequest("pre-aggregation '" + p.name + "' is named twice");
      if (!pa[i].contains("dimensions") || !pa[i]["dimensions"].is_array()) return Status::BadRequest(where + ".dimensions is an array of levels");
      int times = 0;
      for (const auto& d : pa[i]["dimensions"]) {
        if (!d.is_string()) return Status::BadRequest(where + ".dimensions holds level names");
        const std::string level = d.get<std::string>();
        const DimensionSpec* dim = c.DimensionOf(level);
        if (!dim) return Status::BadRequest(where + ": '" + level.substr(0, 128) + "' is not a level of the cube");
        if (dim->time) {
          const auto dot = level.find('.');
          auto tl = dot == std::string::npos ? std::optional<olap::TimeLevel>(olap::TimeLevel::kDay) : olap::ParseTimeLevel(level.substr(dot + 1));
          if (!tl || !olap::IsHierarchical(*tl)) return Status::BadRequest(where + ": a pre-aggregation keeps time at year, quarter, month, week, day or hour");
          ++times;
        }
        p.dimensions.push_back(level);
      }
      if (times > 1) return Status::BadRequest(where + " keeps one time level");
      c.pre_aggregations.push_back(std::move(p));
    }
  }
  for (const auto& [k, v] : j.items()) {
    if (k != "name" && k != "description" && k != "source" && k != "dimensions" && k != "measures" && k != "pre_aggregations") {
      return Status::BadRequest("a cube has no field '" + k.substr(0, 64) + "'");
    }
  }
  return c;
}

json CubeSpec::ToJson() const {
  json dims = json::array();
  for (const auto& d : dimensions) {
    json o = {{"name", d.name}, {"column", d.column}};
    if (d.time) o["type"] = "time";
    if (d.levels.size() > 1) {
      json h = json::array();
      for (size_t i = 0; i + 1 < d.levels.size(); ++i) {
        const LevelSpec& l = d.levels[i];
        json lj = {{"name", l.name.substr(d.name.size() + 1)}, {"column", l.column}};
        if (l.prefix) lj["prefix"] = l.prefix;
        if (!l.map.empty()) lj["map"] = l.map;
        if (l.map_default) lj["default"] = *l.map_default;
        h.push_back(lj);
      }
      o["hierarchy"] = h;
    }
    dims.push_back(o);
  }
  json ms = json::array();
  for (const auto& m : measures) {
    json o = {{"name", m.name}};
    if (m.agg == MeasureAgg::kDerived) {
      o["formula"] = m.formula;
    } else {
      o["agg"] = AggName(m.agg);
      if (!m.column.empty()) o["column"] = m.column;
      if (!m.expr.empty()) o["expr"] = m.expr;
      if (!m.filter.empty()) o["filter"] = m.filter;
      if (m.approximate) o["approximate"] = true;
    }
    ms.push_back(o);
  }
  json pa = json::array();
  for (const auto& p : pre_aggregations) pa.push_back({{"name", p.name}, {"dimensions", p.dimensions}});
  return {{"name", name},           {"description", description}, {"source", {{"dataset", dataset}, {"version", version}}},
          {"dimensions", dims},     {"measures", ms},             {"pre_aggregations", pa}};
}

std::vector<const LevelSpec*> CubeSpec::CodeLevels() const {
  std::vector<const LevelSpec*> out;
  for (const auto& d : dimensions) {
    for (const auto& l : d.levels) out.push_back(&l);
  }
  return out;
}

int CubeSpec::CodeColumn(const std::string& level) const {
  int i = 0;
  for (const auto* l : CodeLevels()) {
    if (l->name == level) return i;
    ++i;
  }
  return -1;
}

const DimensionSpec* CubeSpec::TimeDimension() const {
  for (const auto& d : dimensions) {
    if (d.time) return &d;
  }
  return nullptr;
}

const DimensionSpec* CubeSpec::DimensionOf(const std::string& level) const {
  const std::string dim = level.substr(0, level.find('.'));
  for (const auto& d : dimensions) {
    if (d.name != dim) continue;
    if (d.time) {
      if (level == d.name) return &d;
      return olap::ParseTimeLevel(level.substr(dim.size() + 1)) ? &d : nullptr;
    }
    for (const auto& l : d.levels) {
      if (l.name == level) return &d;
    }
  }
  return nullptr;
}

std::vector<const MeasureSpec*> CubeSpec::TableMeasures() const {
  std::vector<const MeasureSpec*> out;
  for (const auto& m : measures) {
    if (m.agg != MeasureAgg::kDerived && !m.rows()) out.push_back(&m);
  }
  return out;
}

int CubeSpec::TableMeasure(const std::string& name) const {
  int i = 0;
  for (const auto* m : TableMeasures()) {
    if (m->name == name) return i;
    ++i;
  }
  return -1;
}

const MeasureSpec* CubeSpec::Measure(const std::string& name) const {
  for (const auto& m : measures) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

}  // namespace aimass::cube
