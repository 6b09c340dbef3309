// The labelling routes (/api/v1/labelling): projects, the task queue, labels, reviews,
// agreement, export, pre-labels and labelling functions.
#pragma once

#include "analysis/labelling.hpp"
#include "common/status.hpp"
#include "http/router.hpp"

namespace aimass::analysis {

Status RegisterLabellingRoutes(http::Router& router, LabellingService& labelling);

}  // namespace aimass::analysis
