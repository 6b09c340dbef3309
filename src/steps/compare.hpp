// Built-in step `compare`: a new model version (the challenger) against the version behind an
// alias (the champion, `production` by default) on a metric both carry, as champion/challenger
// checks do; a gate can fail the step when the challenger is not better.
//
//   with: model, version (required), against ("production"), metric (required), goal (max,
//         or min for losses and errors), min_delta (0), gate (false)
//   outputs: better (true when there is no champion), challenger {version, value},
//            champion {version, value} or null, delta
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status Compare(StepContext& ctx);

}  // namespace aimass::steps
