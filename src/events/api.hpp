// GET /api/v1/events: platform events as server-sent events (text/event-stream).
#pragma once

#include "events/bus.hpp"
#include "http/router.hpp"

namespace aimass::events {

Status RegisterRoutes(http::Router& router, EventBus& bus);

}  // namespace aimass::events
