// The search module's HTTP routes under /api/v1/search.
#pragma once

#include "http/router.hpp"
#include "search/search.hpp"

namespace aimass::search {

// max_batch_bytes: the largest body of a documents or evaluate request.
Status RegisterRoutes(http::Router& router, SearchService& service, uint64_t max_batch_bytes);

}  // namespace aimass::search
