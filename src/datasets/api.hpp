// The datasets HTTP API: /api/v1/datasets (docs/api.md, docs/guide/datasets.md).
#pragma once

#include "datasets/datasets.hpp"
#include "http/router.hpp"

namespace aimass::datasets {

Status RegisterRoutes(http::Router& router, Datasets& datasets);

}  // namespace aimass::datasets
