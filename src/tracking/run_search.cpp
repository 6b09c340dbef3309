#include "tracking/run_search.hpp"

#include <cctype>
#include <cmath>

#include "tracking/run.hpp"

namespace aimass::tracking {

using storage::FilterError;
using storage::FilterIEquals;
using storage::FilterTerm;

bool ValidKey(std::string_view k) {
  if (k.empty() || k.size() > 250) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/' || c == ' ')) {
      return false;
    }
  }
  return true;
}

namespace {

bool StartsWithI(const std::string& s, std::string_view prefix) {
  return s.size() > prefix.size() && FilterIEquals(std::string_view(s).substr(0, prefix.size()), prefix);
}

// A term on one of the per-run key tables: in drive form a list of run ids, in probe form a
// lookup of this run's row by the table's primary key (run_id, key, …).
std::string KeyTerm(TermForm form, const char* table, const std::string& condition) {
  if (form == TermForm::kDrive) return std::string("r.id IN (SELECT run_id FROM ") + table + " WHERE " + condition + ")";
  return std::string("EXISTS (SELECT 1 FROM ") + table + " x WHERE x.run_id = r.id AND " + condition + ")";
}

Result<std::string> CompileField(TermForm form, const FilterTerm& t, std::vector<storage::Value>& params) {
  std::string field = t.field;
  const size_t pos = t.field_pos;
  const std::string op = t.sql_op();
  auto text_only = [&](const char* what) -> Status {
    if (t.ordering()) return FilterError(pos, std::string(what) + " take =, != or LIKE");
    return Status::Ok();
  };
  for (std::string_view prefix : {"params.", "param.", "tags.", "tag."}) {
    if (!StartsWithI(field, prefix)) continue;
    std::string key = field.substr(prefix.size());
    if (!ValidKey(key)) return FilterError(pos, "invalid key '" + key.substr(0, 64) + "'");
    bool is_param = prefix[0] == 'p';
    AIMASS_RETURN_IF_ERROR(text_only(is_param ? "params" : "tags"));
    params.emplace_back(std::move(key));
    params.emplace_back(t.value);
    return KeyTerm(form, is_param ? "tracking_params" : "tracking_tags", "key = ? AND value " + op + " ?");
  }
  for (std::string_view prefix : {"metrics.", "metric."}) {
    if (!StartsWithI(field, prefix)) continue;
    std::string key = field.substr(prefix.size());
    if (!ValidKey(key)) return FilterError(pos, "invalid key '" + key.substr(0, 64) + "'");
    if (t.op == "LIKE") return FilterError(pos, "metrics compare with numbers");
    double n = 0;
    if (!t.value_is_number || !storage::ParseFilterNumber(t.value, n) || !std::isfinite(n)) {
      return FilterError(t.value_pos, "metrics compare with numbers");
    }
    params.emplace_back(std::move(key));
    params.emplace_back(n);
    return KeyTerm(form, "tracking_latest_metrics", "key = ? AND value " + op + " ?");
  }
  for (std::string_view prefix : {"attributes.", "attribute."}) {
    if (StartsWithI(field, prefix)) field = field.substr(prefix.size());
  }
  auto text_column = [&](const char* column) -> Result<std::string> {
    AIMASS_RETURN_IF_ERROR(text_only(("'" + field + "'").c_str()));
    params.emplace_back(t.value);
    return std::string(column) + " " + op + " ?";
  };
  if (FilterIEquals(field, "name") || FilterIEquals(field, "run_name")) return text_column("r.name");
  if (FilterIEquals(field, "status")) {
    AIMASS_RETURN_IF_ERROR(text_only("'status'"));
    std::string s = NormalizeStatus(t.value);
    params.emplace_back(s.empty() || t.op == "LIKE" ? t.value : s);
    return "r.status " + op + " ?";
  }
  if (FilterIEquals(field, "owner") || FilterIEquals(field, "user")) return text_column("r.owner");
  if (FilterIEquals(field, "experiment")) return text_column("e.name");
  if (FilterIEquals(field, "dataset") || FilterIEquals(field, "model")) {
    AIMASS_RETURN_IF_ERROR(text_only(("'" + field + "'").c_str()));
    params.emplace_back(FilterIEquals(field, "dataset") ? "dataset" : "model");
    params.emplace_back(t.value);
    return KeyTerm(form, "tracking_run_links", "kind = ? AND name " + op + " ?");
  }
  if (t.op == "LIKE") return FilterError(pos, "LIKE applies to text fields");
  if (FilterIEquals(field, "start_time") || FilterIEquals(field, "created") || FilterIEquals(field, "end_time")) {
    int64_t seconds = 0;
    if (!storage::ParseFilterTime(t.value, seconds) || seconds < 0 || seconds > (int64_t{1} << 40)) {
      return FilterError(t.value_pos, "'" + field + "' takes unix seconds or a date");
    }
    params.emplace_back(seconds * 1000);
    return std::string(FilterIEquals(field, "end_time") ? "r.end_time" : "r.start_time") + " " + op + " ?";
  }
  if (FilterIEquals(field, "id") || FilterIEquals(field, "run_id")) {
    double n = 0;
    if (!storage::ParseFilterNumber(t.value, n) || !(n >= 0 && n <= 9.0e18) || n != std::floor(n)) {
      return FilterError(t.value_pos, "id takes a whole number");
    }
    params.emplace_back(static_cast<int64_t>(n));
    return "r.id " + op + " ?";
  }
  return FilterError(pos, "unknown field '" + field.substr(0, 64) + "' (params.<key>, metrics.<key>, tags.<key>, "
                          "name, status, owner, experiment, start_time, end_time, id, dataset, model)");
}

}  // namespace

Result<storage::CompiledFilter> CompileRunFilter(std::string_view filter, TermForm form) {
  return storage::CompileFilter(filter, [form](const FilterTerm& t, std::vector<storage::Value>& params) {
    return CompileField(form, t, params);
  });
}

std::optional<std::string> DriverIds(const storage::SqlPart& c) {
  constexpr std::string_view kPrefix = "r.id IN (";
  if (!c.comparison || !c.sql.starts_with(kPrefix) || c.sql.back() != ')') return std::nullopt;
  return c.sql.substr(kPrefix.size(), c.sql.size() - kPrefix.size() - 1);
}

Result<RunOrder> CompileRunOrder(std::string_view order_by) {
  std::string s(order_by);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  std::string dir = "DESC";
  if (size_t sp = s.rfind(' '); sp != std::string::npos) {
    std::string d = s.substr(sp + 1);
    if (FilterIEquals(d, "asc") || FilterIEquals(d, "desc")) {
      dir = FilterIEquals(d, "asc") ? "ASC" : "DESC";
      s = s.substr(0, sp);
      while (!s.empty() && s.back() == ' ') s.pop_back();
    }
  }
  if (s.size() > 1 && s.front() == '`' && s.back() == '`') s = s.substr(1, s.size() - 2);
  for (std::string_view prefix : {"attributes.", "attribute."}) {
    if (StartsWithI(s, prefix)) s = s.substr(prefix.size());
  }
  RunOrder o;
  o.ascending = dir == "ASC";
  const std::string tie = ", r.id " + dir;
  if (s.empty() || s == "start_time" || s == "created") {
    o.order = "r.start_time " + dir + tie;
  } else if (s == "end_time") {
    o.order = "r.end_time " + dir + " NULLS LAST" + tie;
  } else if (s == "name" || s == "status" || s == "owner") {
    o.order = "r." + s + " " + dir + tie;
  } else if (s == "id") {
    o.order = "r.id " + dir;
  } else {
    bool metric = StartsWithI(s, "metrics.") || StartsWithI(s, "metric.");
    bool param = StartsWithI(s, "params.") || StartsWithI(s, "param.");
    if (!metric && !param) {
      return Status::BadRequest("order_by is start_time, end_time, name, status, owner, id, metrics.<key> or params.<key>");
    }
    std::string key = s.substr(s.find('.') + 1);
    if (key.size() > 1 && key.front() == '`' && key.back() == '`') key = key.substr(1, key.size() - 2);
    if (!ValidKey(key)) return Status::BadRequest("order_by: invalid key");
    o.table = metric ? "tracking_latest_metrics" : "tracking_params";
    o.join = " LEFT JOIN " + o.table + " o ON o.run_id = r.id AND o.key = ?";
    o.key = key;
    o.params.emplace_back(std::move(key));
    o.order = "o.value " + dir + " NULLS LAST" + tie;
  }
  return o;
}

}  // namespace aimass::tracking
