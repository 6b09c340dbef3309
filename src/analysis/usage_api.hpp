// The usage-analysis routes (/api/v1/usage): series and top lists of calls, errors and
// latencies per application, consumer, route, deployment and version; quota use; alert rules
// and their alerts.
#pragma once

#include "analysis/usage.hpp"
#include "common/status.hpp"
#include "http/router.hpp"

namespace aimass::analysis {

Status RegisterUsageRoutes(http::Router& router, UsageService& usage);

}  // namespace aimass::analysis
