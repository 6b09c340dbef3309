// The behavior module's HTTP routes (/api/v1/behavior): parse, call BehaviorService, render.
#pragma once

#include "behavior/behavior.hpp"
#include "common/status.hpp"
#include "http/router.hpp"

namespace aimass::behavior {

Status RegisterRoutes(http::Router& router, BehaviorService& service);

}  // namespace aimass::behavior
