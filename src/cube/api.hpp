// The cube module's HTTP routes (/api/v1/cubes): parse, call CubeService, render.
#pragma once

#include "common/status.hpp"
#include "cube/cube.hpp"
#include "http/router.hpp"

namespace aimass::cube {

Status RegisterRoutes(http::Router& router, CubeService& service);

}  // namespace aimass::cube
