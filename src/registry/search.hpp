// Search over model versions: a small filter language compiled to parameterised SQL.
//
//   filter  := or
//   or      := and ("OR" and)*
//   and     := unary ("AND" unary)*
//   unary   := "NOT" unary | "(" or ")" | field op value
//   field   := name | task | owner | tag | framework | status | version | alias | created
//            | metrics.<key>
//   op      := = | != | < | <= | > | >= | LIKE
//   value   := 'text' | "text" | number
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
#include "storage/db.hpp"

namespace aimass::registry {

struct CompiledFilter {
  std::string where;                  // SQL over registry_models m, registry_versions v
  std::vector<storage::Value> params;
};

// Fails with bad_request naming the position of the problem. Inputs are limited to 4 KiB,
// 24 levels of parentheses/NOT and 100 comparisons.
Result<CompiledFilter> CompileFilter(std::string_view filter);

// order_by: created | version | name | metrics.<key>, optionally followed by " desc"/" asc".
Result<std::string> CompileOrder(std::string_view order_by);

}  // namespace aimass::registry
