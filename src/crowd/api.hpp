// The crowd module's routes (/api/v1/crowd): streams, their lines and zones, counts, tracks,
// alerts, heatmaps, snapshots and live view, and the routes the streams' workers report to.
#pragma once

#include "common/status.hpp"
#include "crowd/crowd.hpp"
#include "http/router.hpp"

namespace aimass::crowd {

Status RegisterRoutes(http::Router& router, CrowdService& service);

}  // namespace aimass::crowd
