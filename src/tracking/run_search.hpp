// Run search: storage/sql_filter.hpp's language over runs, and their orderings.
//
//   field := params.<key> | tags.<key>              = != LIKE, compared as text
//          | metrics.<key>                          = != < <= > >= with a number, on the latest value
//          | [attributes.]name | status | owner | experiment      = != LIKE
//          | [attributes.]start_time | end_time     unix seconds or a date/time
//          | [attributes.]id                        a number
//          | dataset | model                        = != LIKE: a dataset or model version the run
//                                                   read or produced, by name
//
// e.g.  params.lr = '0.1' AND metrics.accuracy > 0.9 AND status = 'succeeded'
// Keys with other characters are quoted with backquotes: metrics.`val loss` < 0.3.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "storage/sql_filter.hpp"

namespace aimass::tracking {

// How a term on params, tags, metrics or links is written: as `r.id IN (SELECT run_id …)`
// (kDrive: the term's runs are gathered first, so it can drive the search from its index) or
// as a correlated `EXISTS (…)` (kProbe: checked run by run, cheap once other terms or an
// ordering index have picked the runs). The search's planner (store.cpp) mixes the two.
enum class TermForm { kDrive, kProbe };

// SQL over tracking_runs r (joined to tracking_experiments e).
Result<storage::CompiledFilter> CompileRunFilter(std::string_view filter, TermForm form = TermForm::kDrive);

// The ids query ("SELECT run_id FROM … WHERE …") inside a conjunct compiled in kDrive form,
// when it is a single comparison that can drive a search; nullopt otherwise.
std::optional<std::string> DriverIds(const storage::SqlPart& drive_conjunct);

struct RunOrder {
  std::string join;   // a LEFT JOIN the ordering needs ("" if none)
  std::string order;  // ORDER BY's text
  std::vector<storage::Value> params;  // the join's parameters (they come before the filter's)
  // Ordering by a metric or param: its table and key, so the search can walk that table's
  // (key, value, run_id) index in order instead of sorting every match.
  std::string table;
  std::string key;
  bool ascending = false;
};

// order_by: start_time (the default) | end_time | name | status | id | metrics.<key> |
// params.<key>, each optionally followed by " asc" or " desc" (the default). Runs without
// the metric or param sort last either way.
Result<RunOrder> CompileRunOrder(std::string_view order_by);

// Metric, param and tag keys: 1 to 250 characters of letters, digits, _ - . / and space (as MLflow).
bool ValidKey(std::string_view key);

}  // namespace aimass::tracking
