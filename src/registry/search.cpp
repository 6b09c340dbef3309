#include "registry/search.hpp"

#include <cctype>
#include <cmath>

namespace aimass::registry {

namespace {

using storage::FilterError;
using storage::FilterIEquals;
using storage::FilterTerm;

bool ValidMetricKey(std::string_view k) {
  if (k.empty() || k.size() > 64) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

Result<std::string> CompileField(const FilterTerm& t, std::vector<storage::Value>& params) {
  const std::string& field = t.field;
  const size_t pos = t.field_pos;
  const std::string sql_op = t.sql_op();
  auto text_column = [&](const char* column) -> Result<std::string> {
    if (t.ordering()) return FilterError(pos, "'" + field + "' takes =, != or LIKE");
    params.emplace_back(t.value);
    return std::string(column) + " " + sql_op + " ?";
  };
  if (FilterIEquals(field, "name")) return text_column("m.name");
  if (FilterIEquals(field, "task")) return text_column("m.task");
  if (FilterIEquals(field, "owner")) return text_column("m.owner");
  if (FilterIEquals(field, "framework")) return text_column("v.framework");
  if (FilterIEquals(field, "status")) return text_column("v.status");
  if (FilterIEquals(field, "tag") || FilterIEquals(field, "tags")) {
    if (t.op != "=" && t.op != "!=") return FilterError(pos, "'tag' takes = or !=");
    params.emplace_back(t.value);
    return std::string("m.id ") + (t.op == "=" ? "" : "NOT ") +
           "IN (SELECT model_id FROM registry_model_tags WHERE tag = ?)";
  }
  if (FilterIEquals(field, "alias")) {
    if (t.op != "=" && t.op != "!=") return FilterError(pos, "'alias' takes = or !=");
    params.emplace_back(t.value);
    return std::string(t.op == "=" ? "" : "NOT ") +
           "EXISTS (SELECT 1 FROM registry_aliases a WHERE a.model_id = v.model_id AND "
           "a.version = v.version AND a.alias = ?)";
  }
  if (t.op == "LIKE") return FilterError(pos, "LIKE applies to text fields");
  if (FilterIEquals(field, "version")) {
    double n = 0;
    // Whole and within int64 (a cast of 1e19 is undefined; found by fuzz_search_filter).
    if (!storage::ParseFilterNumber(t.value, n) || !(n >= -9.0e18 && n <= 9.0e18) || n != std::floor(n)) {
      return FilterError(t.value_pos, "version takes a whole number");
    }
    params.emplace_back(static_cast<int64_t>(n));
    return "v.version " + sql_op + " ?";
  }
  if (FilterIEquals(field, "created")) {
    int64_t time = 0;
    if (!storage::ParseFilterTime(t.value, time)) return FilterError(t.value_pos, "created takes unix seconds or a date");
    params.emplace_back(time);
    return "v.created_at " + sql_op + " ?";
  }
  if (field.size() > 8 && FilterIEquals(field.substr(0, 8), "metrics.")) {
    std::string key = field.substr(8);
    if (!ValidMetricKey(key)) return FilterError(pos, "invalid metric name");
    double n = 0;
    if (!t.value_is_number || !storage::ParseFilterNumber(t.value, n)) {
      return FilterError(t.value_pos, "metrics compare with numbers");
    }
    // The key is validated above and bound as a parameter, never spliced into the SQL.
    params.emplace_back("$.\"" + key + "\"");
    params.emplace_back(n);
    return "json_extract(v.metrics, ?) " + sql_op + " ?";
  }
  return FilterError(pos, "unknown field '" + field.substr(0, 64) + "'");
}

}  // namespace

Result<CompiledFilter> CompileFilter(std::string_view filter) { return storage::CompileFilter(filter, CompileField); }

Result<std::string> CompileOrder(std::string_view order_by) {
  std::string s(order_by);
  std::string dir = "DESC";
  if (size_t sp = s.find(' '); sp != std::string::npos) {
    std::string d = s.substr(sp + 1);
    s = s.substr(0, sp);
    if (FilterIEquals(d, "asc")) dir = "ASC";
    else if (!FilterIEquals(d, "desc")) return Status::BadRequest("order_by direction must be asc or desc");
  }
  if (s.empty() || s == "created") return "v.created_at " + dir + ", m.name, v.version " + dir;
  if (s == "version") return "v.version " + dir + ", m.name";
  if (s == "name") return "m.name " + dir + ", v.version DESC";
  if (s.starts_with("metrics.") && ValidMetricKey(s.substr(8))) {
    // Validated key: [A-Za-z0-9_.-] only, so it can sit in the SQL text.
    // Versions without the metric sort as the smallest, on PostgreSQL as on SQLite.
    return "json_extract(v.metrics, '$.\"" + s.substr(8) + "\"') " + dir + (dir == "ASC" ? " NULLS FIRST" : " NULLS LAST") +
           ", m.name, v.version";
  }
  return Status::BadRequest("order_by must be created, version, name or metrics.<key>");
}

}  // namespace aimass::registry
