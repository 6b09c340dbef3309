// The gateway's administration routes under /api/v1/gateway: upstreams, routes, their health
// and their pause / resume / degrade switches.
#pragma once

#include "gateway/gateway.hpp"
#include "http/router.hpp"

namespace aimass::gateway {

Status RegisterRoutes(http::Router& router, Gateway& gateway);

}  // namespace aimass::gateway
