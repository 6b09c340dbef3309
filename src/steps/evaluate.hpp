// Built-in step `evaluate`: a model measured on a test table through the model as served
// (the platform's /v2 inference), its measures logged to a tracking run with the full report
// (per class, confusion matrix) as an artifact.
//
//   with: dataset (required: {"dataset","version"}, "name" or "name@version"), label
//         (required), features (every other numeric column) or text (a text column, sent as
//         BYTES), labels (class names in the model's output order, for named labels),
//         deployment, or model and version
//         (a temporary deployment is made and removed), task (classification, or regression;
//         default: classification when the label's values are whole), run (the tracking run to
//         log to; default: the run in the model version's lineage), batch (256)
//   outputs: metrics (accuracy, macro_f1, roc_auc | rmse, mae, r2; examples), run
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status Evaluate(StepContext& ctx);

}  // namespace aimass::steps
