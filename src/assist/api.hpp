// The assist module's HTTP routes under /api/v1/assist.
#pragma once

#include "assist/assist.hpp"
#include "http/router.hpp"

namespace aimass::assist {

Status RegisterRoutes(http::Router& router, AssistService& service);

}  // namespace aimass::assist
