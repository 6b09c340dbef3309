// Built-in step `register`: a tracking run's model artifact pushed as a registry version,
// with the run's last metrics and params and its lineage (the run, the dataset versions it
// read, the pipeline run), recorded on the run as its output; optionally an alias moved to it.
//
//   with: model (required), run (required: a tracking run id), artifact ("model/model.json"),
//         framework (required: xgboost, torchscript, onnx), task (when the model is created),
//         alias (optional)
//   outputs: model, version
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status Register(StepContext& ctx);

}  // namespace aimass::steps
