// The filter language of searches, Meilisearch's: `category = 'books' AND price < 10`,
// `!=`, `<`, `<=`, `>`, `>=`, `price 10 TO 20`, `tag IN [a, b]`, `tag NOT IN [...]`,
// `field EXISTS`, `NOT`, `AND`, `OR` and parentheses. Values are numbers, bare words or quoted
// strings. Parsed into a tree here; the index checks the fields and compiles it.
#pragma once

#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::search {

struct FilterNode {
  enum Kind { kAnd, kOr, kNot, kCompare, kIn, kRange, kExists };
  Kind kind = kCompare;
  std::string field;
  std::string op;                    // kCompare: = != < <= > >=
  std::vector<std::string> values;   // kCompare: one, kIn: many, kRange: two
  std::vector<FilterNode> children;  // kAnd, kOr: two or more; kNot: one
};

Result<FilterNode> ParseFilter(std::string_view text);

}  // namespace aimass::search
