// The serving module's HTTP routes: deployments under /api/v1/deployments, the Open Inference
// Protocol v2 REST routes under /v2 (health, metadata, infer, statistics, repository), and v1
// :predict.
#pragma once

#include <cstdint>

#include "http/router.hpp"
#include "serving/serving.hpp"

namespace aimass::serving {

struct ApiOptions {
  uint64_t max_request_bytes = 64ull << 20;  // inference bodies (serving.max_request_bytes)
};

Status RegisterRoutes(http::Router& router, Serving& serving, const ApiOptions& options);

}  // namespace aimass::serving
