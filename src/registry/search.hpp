// Search over model versions: storage/sql_filter.hpp's language over these fields:
//
//   field   := name | task | owner | tag | framework | status | version | alias | created
//            | metrics.<key>
//
// e.g.  task = 'image-classification' AND (metrics.accuracy > 0.9 OR alias = 'production')
// Keywords are case-insensitive; `tag` matches any of a model's tags; `created` takes a
// number (unix seconds) or an RFC 3339 date/time. Values never reach SQL as text: every one is
// a bound parameter, and field names come from a fixed table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "storage/sql_filter.hpp"

namespace aimass::registry {

// SQL over registry_models m, registry_versions v.
using storage::CompiledFilter;

// Fails with bad_request naming the position of the problem. Inputs are limited to 4 KiB,
// 24 levels of parentheses/NOT and 100 comparisons.
Result<CompiledFilter> CompileFilter(std::string_view filter);

// order_by: created | version | name | metrics.<key>, optionally followed by " desc"/" asc".
Result<std::string> CompileOrder(std::string_view order_by);

}  // namespace aimass::registry
