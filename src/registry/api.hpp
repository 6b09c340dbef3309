// The registry's HTTP routes under /api/v1/models.
#pragma once

#include "http/router.hpp"
#include "registry/registry.hpp"

namespace aimass::registry {

Status RegisterRoutes(http::Router& router, Registry& registry);

}  // namespace aimass::registry
