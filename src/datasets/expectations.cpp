#include "datasets/expectations.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <unordered_set>

#include "common/time.hpp"
#include "datasets/column_values.hpp"
#include "datasets/profile.hpp"
#include "datasets/values.hpp"

namespace aimass::datasets {

using nlohmann::json;

namespace {

constexpr size_t kPartial = 20;  // GE's partial_unexpected_list length

enum class Shape { kMap, kTable, kColumn };

struct Kind {
  const char* type;
  Shape shape;
  std::vector<const char*> required;
};

const std::vector<Kind>& Kinds() {
  static const std::vector<Kind> kinds = {
      {"expect_column_values_to_not_be_null", Shape::kMap, {"column"}},
      {"expect_column_values_to_be_null", Shape::kMap, {"column"}},
      {"expect_column_values_to_be_unique", Shape::kMap, {"column"}},
      {"expect_column_values_to_be_between", Shape::kMap, {"column"}},
      {"expect_column_values_to_match_regex", Shape::kMap, {"column", "regex"}},
      {"expect_column_values_to_not_match_regex", Shape::kMap, {"column", "regex"}},
      {"expect_column_values_to_be_in_set", Shape::kMap, {"column", "value_set"}},
      {"expect_column_values_to_not_be_in_set", Shape::kMap, {"column", "value_set"}},
      {"expect_column_value_lengths_to_be_between", Shape::kMap, {"column"}},
      {"expect_table_row_count_to_be_between", Shape::kTable, {}},
      {"expect_table_row_count_to_equal", Shape::kTable, {"value"}},
      {"expect_table_columns_to_match_ordered_list", Shape::kTable, {"column_list"}},
      {"expect_table_columns_to_match_set", Shape::kTable, {"column_set"}},
      {"expect_column_to_exist", Shape::kColumn, {"column"}},
      {"expect_column_mean_to_be_between", Shape::kColumn, {"column"}},
      {"expect_column_min_to_be_between", Shape::kColumn, {"column"}},
      {"expect_column_max_to_be_between", Shape::kColumn, {"column"}},
      {"expect_column_median_to_be_between", Shape::kColumn, {"column"}},
      {"expect_column_stdev_to_be_between", Shape::kColumn, {"column"}},
      {"expect_column_sum_to_be_between", Shape::kColumn, {"column"}},
      {"expect_column_unique_value_count_to_be_between", Shape::kColumn, {"column"}},
      {"expect_column_proportion_of_unique_values_to_be_between", Shape::kColumn, {"column"}},
      // AI Mass's own (GE has none): the newest timestamp is at most max_age_seconds old.
      {"expect_column_freshness_to_be_less_than", Shape::kColumn, {"column", "max_age_seconds"}},
  };
  return kinds;
}

const Kind* FindKind(std::string_view type) {
  for (const auto& k : Kinds()) {
    if (type == k.type) return &k;
  }
  return nullptr;
}

Status BadArg(const std::string& type, const std::string& what) {
  return Status::BadRequest(type + ": " + what);
}

Status CheckKwargs(const std::string& type, const Kind& kind, const json& kw) {
  for (const char* r : kind.required) {
    if (!kw.contains(r)) return BadArg(type, std::string("kwargs.") + r + " is required");
  }
  for (auto it = kw.begin(); it != kw.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "column" && !v.is_string()) return BadArg(type, "column must be a string");
    if (k == "mostly" && (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1)) {
      return BadArg(type, "mostly must be a number between 0 and 1");
    }
    if ((k == "min_value" || k == "max_value") && !v.is_null() && !v.is_number() && !v.is_string()) {
      return BadArg(type, k + " must be a number, a timestamp string or null");
    }
    if ((k == "strict_min" || k == "strict_max" || k == "exact_match") && !v.is_boolean()) {
      return BadArg(type, k + " must be true or false");
    }
    if (k == "regex") {
      if (!v.is_string()) return BadArg(type, "regex must be a string");
      RE2 re(v.get<std::string>(), RE2::Quiet);
      if (!re.ok()) return BadArg(type, "regex does not compile: " + re.error());
    }
    if ((k == "value_set" || k == "column_set" || k == "column_list") && !v.is_array()) {
      return BadArg(type, k + " must be a list");
    }
    if (k == "value" && !v.is_number_integer()) return BadArg(type, "value must be an integer");
    if (k == "max_age_seconds" && (!v.is_number() || v.get<double>() <= 0)) {
      return BadArg(type, "max_age_seconds must be a positive number");
    }
  }
  return Status::Ok();
}

// A bound of `between` in the column's domain (timestamps: microseconds from RFC 3339 text).
Result<std::optional<double>> Bound(const json& kw, const char* key, ColumnType type) {
  if (!kw.contains(key) || kw[key].is_null()) return std::optional<double>();
  const json& v = kw[key];
  if (type == ColumnType::kTimestamp) {
    if (!v.is_string()) return Status::BadRequest(std::string(key) + " of a timestamp column must be RFC 3339 text");
    auto t = ParseTimestamp(v.get<std::string>());
    if (!t) return Status::BadRequest(std::string(key) + " is not a timestamp");
    return std::optional<double>(static_cast<double>(*t));
  }
  if (!v.is_number()) return Status::BadRequest(std::string(key) + " must be a number");
  return std::optional<double>(v.get<double>());
}

struct Range {
  std::optional<double> lo, hi;
  bool strict_lo = false, strict_hi = false;
  bool Contains(double x) const {
    if (lo && (strict_lo ? x <= *lo : x < *lo)) return false;
    if (hi && (strict_hi ? x >= *hi : x > *hi)) return false;
    return true;
  }
};

Result<Range> ParseRange(const json& kw, ColumnType type) {
  Range r;
  AIMASS_ASSIGN_OR_RETURN(r.lo, Bound(kw, "min_value", type));
  AIMASS_ASSIGN_OR_RETURN(r.hi, Bound(kw, "max_value", type));
  r.strict_lo = kw.value("strict_min", false);
  r.strict_hi = kw.value("strict_max", false);
  return r;
}

double Number(const ColumnData& c, size_t i) {
  return c.type == ColumnType::kFloat ? c.floats[i] : static_cast<double>(c.ints[i]);
}

json ValueJson(const ColumnData& c, size_t i) {
  if (c.IsNull(i)) return nullptr;
  switch (c.type) {
    case ColumnType::kInteger:
      return c.ints[i];
    case ColumnType::kBoolean:
      return c.ints[i] != 0;
    case ColumnType::kFloat:
      return std::isfinite(c.floats[i]) ? json(c.floats[i]) : json(nullptr);
    default:
      return ValueText(c, i);
  }
}

// The key of a set member in the column's domain, as RowKey gives it; nullopt: cannot be in it.
std::optional<uint64_t> MemberKey(const json& v, ColumnType type) {
  switch (type) {
    case ColumnType::kInteger:
      if (v.is_number_integer()) return IntKey(v.get<int64_t>());
      if (v.is_number_float() && v.get<double>() == std::floor(v.get<double>())) return IntKey(static_cast<int64_t>(v.get<double>()));
      if (v.is_string()) {
        if (auto x = ParseInteger(v.get<std::string>())) return IntKey(*x);
      }
      return std::nullopt;
    case ColumnType::kFloat:
      if (v.is_number()) return FloatKey(v.get<double>());
      if (v.is_string()) {
        if (auto x = ParseFloat(v.get<std::string>())) return FloatKey(*x);
      }
      return std::nullopt;
    case ColumnType::kBoolean:
      if (v.is_boolean()) return IntKey(v.get<bool>() ? 1 : 0);
      return std::nullopt;
    case ColumnType::kTimestamp:
      if (v.is_string()) {
        if (auto x = ParseTimestamp(v.get<std::string>())) return IntKey(*x);
      }
      return std::nullopt;
    default:
      if (v.is_string()) return HashString(v.get<std::string>());
      if (v.is_number() || v.is_boolean()) return HashString(v.dump());
      return std::nullopt;
  }
}

uint64_t RowKey(const ColumnData& c, size_t i) {
  if (IsStringType(c.type)) return HashString(c.Str(i));
  if (c.type == ColumnType::kFloat) return FloatKey(c.floats[i]);
  return IntKey(c.ints[i]);
}

json Failure(const json& config, const std::string& message) {
  return {{"success", false},
          {"expectation_config", config},
          {"result", json::object()},
          {"exception_info", {{"raised_exception", true}, {"exception_message", message}}}};
}

json Success(const json& config, bool ok, json result) {
  return {{"success", ok},
          {"expectation_config", config},
          {"result", std::move(result)},
          {"exception_info", {{"raised_exception", false}}}};
}

// A column map expectation: `expected(c, i)` for each row it applies to (every row for the
// nullity ones, non-missing rows otherwise); `prepare(c)` runs once per segment (dictionary-level
// work for strings).
Result<json> RunMap(const Table& t, size_t col, const json& config, bool over_nulls,
                    const std::function<void(const ColumnData&)>& prepare,
                    const std::function<bool(const ColumnData&, size_t)>& expected) {
  const json& kw = config["kwargs"];
  uint64_t element_count = t.rows(), missing = 0, unexpected = 0;
  json values = json::array(), indices = json::array();
  for (size_t s = 0; s < t.segment_count(); ++s) {
    AIMASS_ASSIGN_OR_RETURN(ColumnData c, t.Read(s, col));
    prepare(c);
    for (size_t i = 0; i < c.rows; ++i) {
      bool null = c.IsNull(i);
      missing += null;
      if (null && !over_nulls) continue;
      if (expected(c, i)) continue;
      ++unexpected;
      if (values.size() < kPartial) {
        values.push_back(ValueJson(c, i));
        indices.push_back(t.segment_start(s) + i);
      }
    }
  }
  uint64_t base = over_nulls ? element_count : element_count - missing;
  double fraction_ok = base ? static_cast<double>(base - unexpected) / static_cast<double>(base) : 1.0;
  double mostly = kw.value("mostly", 1.0);
  json result = {{"element_count", element_count},
                 {"missing_count", missing},
                 {"missing_percent", element_count ? 100.0 * static_cast<double>(missing) / static_cast<double>(element_count) : 0.0},
                 {"unexpected_count", unexpected},
                 {"unexpected_percent", base ? 100.0 * static_cast<double>(unexpected) / static_cast<double>(base) : 0.0},
                 {"partial_unexpected_list", values},
                 {"partial_unexpected_index_list", indices}};
  return Success(config, fraction_ok >= mostly - 1e-12, std::move(result));
}

Result<json> RunColumnMap(const Table& t, size_t col, const json& config) {
  const std::string type = config["expectation_type"];
  const json& kw = config["kwargs"];
  const ColumnType ct = t.schema()[col].type;
  auto none = [](const ColumnData&) {};
  if (type == "expect_column_values_to_not_be_null") {
    return RunMap(t, col, config, true, none, [](const ColumnData& c, size_t i) { return !c.IsNull(i); });
  }
  if (type == "expect_column_values_to_be_null") {
    return RunMap(t, col, config, true, none, [](const ColumnData& c, size_t i) { return c.IsNull(i); });
  }
  if (type == "expect_column_values_to_be_unique") {
    AIMASS_ASSIGN_OR_RETURN(ColumnValues v, GatherColumn(t, col, ~uint64_t{0}, false));
    auto dup = std::make_shared<std::unordered_set<uint64_t>>();
    for (const auto& [key, n] : Runs(v.keys)) {
      if (n > 1) dup->insert(key);
    }
    return RunMap(t, col, config, false, none, [dup](const ColumnData& c, size_t i) { return !dup->count(RowKey(c, i)); });
  }
  if (type == "expect_column_values_to_be_between") {
    if (IsStringType(ct) || ct == ColumnType::kBoolean) {
      return Failure(config, "column '" + t.schema()[col].name + "' is a " + std::string(TypeName(ct)) + ", not a number or timestamp");
    }
    auto r = ParseRange(kw, ct);
    if (!r.ok()) return Failure(config, r.status().message());
    Range range = *r;
    return RunMap(t, col, config, false, none, [range](const ColumnData& c, size_t i) { return range.Contains(Number(c, i)); });
  }
  if (type == "expect_column_value_lengths_to_be_between") {
    auto r = ParseRange(kw, ColumnType::kInteger);
    if (!r.ok()) return Failure(config, r.status().message());
    Range range = *r;
    return RunMap(t, col, config, false, none, [range](const ColumnData& c, size_t i) {
      return range.Contains(static_cast<double>(IsStringType(c.type) ? c.Str(i).size() : ValueText(c, i).size()));
    });
  }
  if (type == "expect_column_values_to_match_regex" || type == "expect_column_values_to_not_match_regex") {
    auto re = std::make_shared<RE2>(kw["regex"].get<std::string>(), RE2::Quiet);
    bool want = type == "expect_column_values_to_match_regex";
    // Strings are matched once per dictionary entry of a segment.
    auto per_entry = std::make_shared<std::vector<uint8_t>>();
    return RunMap(
        t, col, config, false,
        [re, want, per_entry](const ColumnData& c) {
          per_entry->clear();
          if (!IsStringType(c.type)) return;
          per_entry->resize(c.dict_size());
          for (uint32_t d = 0; d < c.dict_size(); ++d) {
            std::string_view e = c.Entry(d);
            (*per_entry)[d] = RE2::PartialMatch(re2::StringPiece(e.data(), e.size()), *re) == want;
          }
        },
        [re, want, per_entry](const ColumnData& c, size_t i) {
          if (IsStringType(c.type)) return (*per_entry)[c.codes[i]] != 0;
          return RE2::PartialMatch(ValueText(c, i), *re) == want;
        });
  }
  if (type == "expect_column_values_to_be_in_set" || type == "expect_column_values_to_not_be_in_set") {
    auto set = std::make_shared<std::unordered_set<uint64_t>>();
    for (const auto& m : kw["value_set"]) {
      if (auto k = MemberKey(m, ct)) set->insert(*k);
    }
    bool want = type == "expect_column_values_to_be_in_set";
    return RunMap(t, col, config, false, none,
                  [set, want](const ColumnData& c, size_t i) { return (set->count(RowKey(c, i)) != 0) == want; });
  }
  return Status::Internal("no check for " + type);
}

Result<json> RunColumnAggregate(const Table& t, size_t col, const json& config, int64_t now_ms) {
  const std::string type = config["expectation_type"];
  const json& kw = config["kwargs"];
  const ColumnSpec& spec = t.schema()[col];
  if (type == "expect_column_to_exist") return Success(config, true, json::object());
  AIMASS_ASSIGN_OR_RETURN(ColumnValues v, GatherColumn(t, col, 8'000'000, false));
  if (type == "expect_column_unique_value_count_to_be_between" ||
      type == "expect_column_proportion_of_unique_values_to_be_between") {
    double distinct = v.sampled ? v.hll.Estimate() : static_cast<double>(SummarizeRuns(v.keys, 0).distinct);
    double observed = type == "expect_column_unique_value_count_to_be_between"
                          ? distinct
                          : (v.count ? distinct / static_cast<double>(v.count) : 0.0);
    auto r = ParseRange(kw, ColumnType::kFloat);
    if (!r.ok()) return Failure(config, r.status().message());
    return Success(config, r->Contains(observed), {{"observed_value", observed}, {"element_count", t.rows()}});
  }
  const bool numeric = IsNumericType(spec.type) || spec.type == ColumnType::kTimestamp || spec.type == ColumnType::kBoolean;
  if (!numeric) {
    return Failure(config, "column '" + spec.name + "' is a " + std::string(TypeName(spec.type)) + ", not a number or timestamp");
  }
  if (v.count == 0) return Success(config, false, {{"observed_value", nullptr}, {"element_count", t.rows()}});
  const bool ts = spec.type == ColumnType::kTimestamp;
  if (type == "expect_column_freshness_to_be_less_than") {
    if (!ts) return Failure(config, "column '" + spec.name + "' is not a timestamp");
    double age_s = (static_cast<double>(now_ms) * 1000 - v.Value(v.max_key)) / 1e6;
    return Success(config, age_s < kw["max_age_seconds"].get<double>(),
                   {{"observed_value", age_s}, {"newest", FormatTimestamp(KeyInt(v.max_key))}});
  }
  double observed;
  bool in_domain = true;  // observed is in the column's domain (bounds parsed as such)
  if (type == "expect_column_mean_to_be_between") {
    observed = ts ? v.mean * 1e6 : v.mean;
  } else if (type == "expect_column_min_to_be_between") {
    observed = v.Value(v.min_key);
  } else if (type == "expect_column_max_to_be_between") {
    observed = v.Value(v.max_key);
  } else if (type == "expect_column_median_to_be_between") {
    observed = Quantile(v, 0.5);
  } else if (type == "expect_column_sum_to_be_between") {
    observed = v.mean * static_cast<double>(v.count);
    in_domain = !ts;
  } else {  // stdev
    observed = v.count > 1 ? std::sqrt(v.m2 / static_cast<double>(v.count - 1)) : 0.0;
    in_domain = false;  // timestamps' standard deviation is in seconds
  }
  auto r = ParseRange(kw, in_domain ? spec.type : ColumnType::kFloat);
  if (!r.ok()) return Failure(config, r.status().message());
  json shown = in_domain ? NumberJson(spec.type, observed) : json(observed);
  return Success(config, r->Contains(observed), {{"observed_value", shown}, {"element_count", t.rows()}});
}

Result<json> RunTable(const Table& t, const json& config) {
  const std::string type = config["expectation_type"];
  const json& kw = config["kwargs"];
  const double rows = static_cast<double>(t.rows());
  if (type == "expect_table_row_count_to_be_between") {
    auto r = ParseRange(kw, ColumnType::kInteger);
    if (!r.ok()) return Failure(config, r.status().message());
    return Success(config, r->Contains(rows), {{"observed_value", t.rows()}});
  }
  if (type == "expect_table_row_count_to_equal") {
    return Success(config, kw["value"].get<int64_t>() == static_cast<int64_t>(t.rows()), {{"observed_value", t.rows()}});
  }
  json names = json::array();
  for (const auto& c : t.schema()) names.push_back(c.name);
  if (type == "expect_table_columns_to_match_ordered_list") {
    return Success(config, names == kw["column_list"], {{"observed_value", names}});
  }
  std::vector<std::string> have, want;
  for (const auto& c : t.schema()) have.push_back(c.name);
  for (const auto& c : kw["column_set"]) {
    if (c.is_string()) want.push_back(c.get<std::string>());
  }
  std::sort(have.begin(), have.end());
  std::sort(want.begin(), want.end());
  bool exact = kw.value("exact_match", true);
  bool ok = exact ? have == want : std::includes(have.begin(), have.end(), want.begin(), want.end());
  return Success(config, ok, {{"observed_value", names}});
}

}  // namespace

Result<json> ParseSuite(const json& suite) {
  if (!suite.is_object()) return Status::BadRequest("an expectation suite is a JSON object");
  if (!suite.contains("expectations") || !suite["expectations"].is_array()) {
    return Status::BadRequest("an expectation suite needs \"expectations\": a list of {expectation_type, kwargs}");
  }
  if (suite["expectations"].size() > 1000) return Status::BadRequest("at most 1,000 expectations in a suite");
  json out = {{"expectations", json::array()}};
  if (suite.contains("expectation_suite_name")) {
    if (!suite["expectation_suite_name"].is_string()) return Status::BadRequest("expectation_suite_name must be a string");
    out["expectation_suite_name"] = suite["expectation_suite_name"];
  }
  if (suite.contains("meta")) out["meta"] = suite["meta"];
  for (const auto& e : suite["expectations"]) {
    // GE 1.x writes "type", 0.x "expectation_type"; both are read.
    if (!e.is_object()) return Status::BadRequest("each expectation is an object {expectation_type, kwargs}");
    const json* type = e.contains("expectation_type") ? &e["expectation_type"] : e.contains("type") ? &e["type"] : nullptr;
    if (!type || !type->is_string()) return Status::BadRequest("an expectation needs expectation_type");
    std::string name = type->get<std::string>();
    const Kind* kind = FindKind(name);
    if (!kind) return Status::BadRequest("unknown expectation type '" + name.substr(0, 80) + "'");
    json kw = e.value("kwargs", json::object());
    if (!kw.is_object()) return BadArg(name, "kwargs must be an object");
    AIMASS_RETURN_IF_ERROR(CheckKwargs(name, *kind, kw));
    json item = {{"expectation_type", name}, {"kwargs", kw}};
    if (e.contains("meta")) item["meta"] = e["meta"];
    out["expectations"].push_back(std::move(item));
  }
  return out;
}

Result<json> Validate(const Table& t, const json& suite, int64_t now_ms) {
  json results = json::array();
  size_t passed = 0;
  for (const auto& config : suite["expectations"]) {
    const std::string type = config["expectation_type"];
    const Kind* kind = FindKind(type);
    if (!kind) return Status::Internal("stored suite has unknown expectation " + type);
    json r;
    if (kind->shape == Shape::kTable) {
      AIMASS_ASSIGN_OR_RETURN(r, RunTable(t, config));
    } else {
      std::string column = config["kwargs"]["column"];
      int col = FindColumn(t.schema(), column);
      if (col < 0) {
        r = type == "expect_column_to_exist" ? Success(config, false, json::object())
                                              : Failure(config, "the version has no column '" + column + "'");
      } else if (kind->shape == Shape::kMap) {
        AIMASS_ASSIGN_OR_RETURN(r, RunColumnMap(t, static_cast<size_t>(col), config));
      } else {
        AIMASS_ASSIGN_OR_RETURN(r, RunColumnAggregate(t, static_cast<size_t>(col), config, now_ms));
      }
    }
    passed += r["success"].get<bool>();
    results.push_back(std::move(r));
  }
  const size_t n = results.size();
  return json{{"success", passed == n},
              {"results", results},
              {"statistics",
               {{"evaluated_expectations", n},
                {"successful_expectations", passed},
                {"unsuccessful_expectations", n - passed},
                {"success_percent", n ? 100.0 * static_cast<double>(passed) / static_cast<double>(n) : 100.0}}},
              {"meta", {{"run_time", Rfc3339Ms(now_ms)}}}};
}

}  // namespace aimass::datasets
