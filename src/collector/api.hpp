// The collectors HTTP API: /api/v1/collectors and the push endpoint /api/v1/collect/{name}
// (docs/api.md, docs/guide/datasets.md#collectors).
#pragma once

#include "collector/collectors.hpp"
#include "http/router.hpp"

namespace aimass::collector {

Status RegisterRoutes(http::Router& router, Collectors& collectors);

}  // namespace aimass::collector
