// Expectation suites in Great Expectations' vocabulary and JSON, checked against a table
// version. Column map expectations (values to not be null, be unique, be between, match a
// regular expression, be in a set…) take GE's `mostly`; aggregate ones check the row count, a
// column's mean, min, max, median or distinct count, the columns, and freshness. A result has
// GE's shape: `success`, `statistics`, and per expectation its `result` with the unexpected
// count and a sample of the failing values and their row indices.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "datasets/table.hpp"

namespace aimass::datasets {

// Checks a suite (`{"expectations":[{"expectation_type","kwargs":{…}}…]}`, with optional
// `expectation_suite_name` and `meta`) and returns it normalised; an unknown expectation type
// or a missing or mistyped argument is bad_request naming it.
Result<nlohmann::json> ParseSuite(const nlohmann::json& suite);

// Runs a parsed suite over `table`. `now_ms` is the time freshness is measured against.
Result<nlohmann::json> Validate(const Table& table, const nlohmann::json& suite, int64_t now_ms);

}  // namespace aimass::datasets
