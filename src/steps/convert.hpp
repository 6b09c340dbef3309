// Built-in step `convert`: a TorchScript model version exported to ONNX by Debian's
// python3-torch (torch.onnx.export, run by the step inside its job), registered as a version of
// its own, and checked by serving it: sample inputs go through the new version's /v2 and must
// answer what the TorchScript module answered, within a tolerance, or the version is removed
// and the step fails.
//
//   with: model and version (required; a TorchScript version with a signature of one FP32
//         input), to ("onnx"), opset (13), samples (a table dataset whose rows are the sample
//         inputs: {"dataset","version"}, "name" or "name@version"; default: uniform random
//         values), features (the samples' columns; default every numeric one but label),
//         label, rows (64), tolerance (1e-4: |onnx - torchscript| <= tolerance × (1 + |torchscript|)),
//         register_as (the model to add the ONNX version to; default the same model), alias
//   outputs: model, version, framework ("onnx"), source ({"model","version"}),
//            max_abs_diff, rows
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status Convert(StepContext& ctx);

}  // namespace aimass::steps
