// The built-in pipeline steps, run by `aimass step <uses>` inside a pipeline's job.
#pragma once

#include <string_view>

namespace aimass::steps {

// Runs the step named `uses` with its context from the environment; prints what went wrong on
// stderr. Returns the process's exit code: 0 done, 1 failed, 2 not a step this binary has.
int RunStep(std::string_view uses);

}  // namespace aimass::steps
