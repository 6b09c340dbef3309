// The tracking module's HTTP routes: /api/v1/experiments and /api/v1/runs.
#pragma once

#include "common/status.hpp"
#include "http/router.hpp"
#include "tracking/tracking.hpp"

namespace aimass::tracking {

Status RegisterRoutes(http::Router& router, Tracking& tracking);

}  // namespace aimass::tracking
