// Built-in step `train.assist`: a bot's NLU model (framework `nlu`) trained from one version of
// its definition (GET /api/v1/assist/bots/{bot}/versions/{version}): the classifier kinds it
// asks for trained and compared on a held-out split, the best kept with its calibrated
// out-of-scope threshold, entities learned from the marked examples. The held-out evaluation
// is logged to a tracking run as metrics and an artifact, the model stored as the run's
// `model/model.nlu`.
//
//   with: bot (required), version (required), experiment
//   outputs: run, artifact ("model/model.nlu"), framework ("nlu"), signature, metrics, evaluation
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status TrainAssist(StepContext& ctx);

}  // namespace aimass::steps
