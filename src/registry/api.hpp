// The registry's HTTP routes under /api/v1/models.
#pragma once

#include "http/router.hpp"
#include "registry/registry.hpp"
#include "storage/tar_unpack.hpp"

namespace aimass::registry {

using storage::TarLimits;
using storage::UnpackedTree;
using storage::UnpackTar;
using storage::IsTarContentType;

// `limits` bound what a directory artifact (tar upload) may unpack to.
Status RegisterRoutes(http::Router& router, Registry& registry, const TarLimits& limits);

}  // namespace aimass::registry
