// The query language of `q`, parsed into a tree before any term is looked up: words, "quoted
// phrases", +required and -excluded parts, AND, OR and NOT (upper case) and parentheses. Plain
// words are joined by the search's matching rule (any or all). The last word is a prefix
// unless the query ends with a space (search as you type).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::search {

struct QueryNode {
  enum Kind { kWord, kPhrase, kGroup, kOr };
  Kind kind = kWord;
  std::string text;                  // kWord, kPhrase: as written
  bool prefix = false;               // kWord: the word being typed
  // kGroup: parts, each optional, required or excluded; kOr: alternatives (in `optional`).
  std::vector<QueryNode> optional, required, excluded;
};

// Parses q. An empty query (or only operators) gives an empty group. Errors (an unclosed
// parenthesis or quote) are bad_request.
Result<QueryNode> ParseQuery(std::string_view q);

}  // namespace aimass::search
