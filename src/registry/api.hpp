// The registry's HTTP routes under /api/v1/models.
#pragma once

#include "http/router.hpp"
#include "registry/registry.hpp"
#include "registry/tar_unpack.hpp"

namespace aimass::registry {

// `limits` bound what a directory artifact (tar upload) may unpack to.
Status RegisterRoutes(http::Router& router, Registry& registry, const TarLimits& limits);

}  // namespace aimass::registry
