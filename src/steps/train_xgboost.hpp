// Built-in step `train.xgboost`: gradient-boosted trees (Debian's libxgboost) trained on a
// table dataset version, each round's metrics logged to a tracking run, the model stored as
// that run's artifact.
//
//   with: train: {"dataset","version"} (required), validation: {…} (evaluated every round),
//         label (required), features (all other numeric columns), objective (from the label:
//         binary:logistic for two classes 0/1, multi:softprob for up to 100 whole classes,
//         else reg:squarederror), num_round (100), max_depth (6), eta (0.3), subsample (1),
//         early_stopping_rounds (0: none), seed (0), threads (the job's CPUs),
//         experiment (the pipeline's name)
//   outputs: run (the tracking run), artifact ("model/model.json"), framework ("xgboost"),
//            features, classes (for classification), metrics (the last round's)
#pragma once

#include "common/status.hpp"
#include "steps/numeric_table.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status TrainXgboost(StepContext& ctx);

}  // namespace aimass::steps
