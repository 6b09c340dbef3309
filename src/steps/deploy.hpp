// Built-in step `deploy`: a model version served, as a new deployment, as the version an
// existing deployment switches to, or as its canary taking a share of the traffic.
//
//   with: deployment (required), model (required), version (required), canary_weight (none:
//         switch; 1-100: a canary at that share), auto (the serving module's automatic
//         promotion: {steps, window_s, …}), instances (new deployments)
//   outputs: deployment, version, canary (true or false), infer (the v2 path to call)
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status Deploy(StepContext& ctx);

}  // namespace aimass::steps
