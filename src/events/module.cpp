#include "events/module.hpp"

#include "events/api.hpp"

namespace aimass::events {

Status EventsModule::RegisterRoutes(http::Router& router) { return events::RegisterRoutes(router, bus_); }

}  // namespace aimass::events
