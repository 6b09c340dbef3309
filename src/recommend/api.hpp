// The recommend module's HTTP routes (/api/v1/recommend): parse, call RecommendService, render.
#pragma once

#include "common/status.hpp"
#include "http/router.hpp"
#include "recommend/recommend.hpp"

namespace aimass::recommend {

Status RegisterRoutes(http::Router& router, RecommendService& service);

}  // namespace aimass::recommend
