// The analysis module's routes: mining jobs (/api/v1/analysis/mining).
#pragma once

#include "analysis/mining.hpp"
#include "common/status.hpp"
#include "http/router.hpp"

namespace aimass::analysis {

Status RegisterRoutes(http::Router& router, MiningService& mining);

}  // namespace aimass::analysis
