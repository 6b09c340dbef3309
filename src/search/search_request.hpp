// A search's JSON body ({q, filter, facets, sort, limit, offset, highlight, matching,
// typo_tolerance, prefix_search, hybrid: {ratio}, vector}) parsed into a SearchRequest.
#pragma once

#include <nlohmann/json.hpp>

#include "search/index.hpp"

namespace aimass::search {

constexpr size_t kMaxLimit = 1000;
constexpr size_t kMaxOffset = 100000;

// The vector side is asked for by `ratio` > 0 (hybrid, or a vector given).
Result<SearchRequest> ParseSearchRequest(const nlohmann::json& body);

}  // namespace aimass::search
