// The pipeline module's HTTP routes: /api/v1/pipelines and /api/v1/pipeline-runs.
#pragma once

#include "common/status.hpp"
#include "http/router.hpp"
#include "pipeline/pipelines.hpp"

namespace aimass::pipeline {

Status RegisterRoutes(http::Router& router, Pipelines& pipelines);

}  // namespace aimass::pipeline
