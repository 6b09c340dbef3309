// Built-in step `train.fasttext`: a fastText text classifier (Debian's libfasttext) trained on
// a text column of a table dataset version, its progress logged to a tracking run, measured on
// the validation part, the model (.bin) and its signature stored as the run's artifacts.
//
//   with: train (required), validation, label (required), text (required: the text column),
//         epochs (25), learning_rate (0.5), word_ngrams (2), dim (100), min_count (1),
//         bucket (200000: hashed n-grams; fastText says 2000000, 800 MB at dim 100), loss (softmax | ova | hs | ns), threads, seed, experiment
//   outputs: run, artifact ("model/model.bin"), framework ("fasttext"), signature, classes,
//            labels (the class names in the model's output order), metrics
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status TrainFastText(StepContext& ctx);

}  // namespace aimass::steps
