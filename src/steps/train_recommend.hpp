// Built-in steps `train.recommend` (with: app) and `evaluate.recommend` (with: app, split_at, k,
// evaluation): read a recommender app's feedback through the API, train every algorithm and the
// ranker (recsys), log a tracking run, and give the model file (model/model.rec) or the table of
// metrics per algorithm as outputs.
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status TrainRecommend(StepContext& ctx);
Status EvaluateRecommend(StepContext& ctx);

}  // namespace aimass::steps
