// Built-in step `train.torch`: a LibTorch network (an MLP for tables, a small CNN for images
// held as a table of pixels, a bag-of-n-grams classifier for text) trained on a table dataset
// version, every epoch logged to a tracking run, the TorchScript module and its signature
// stored as that run's artifacts (model/model.pt, model/signature.json).
//
//   with: train (required), validation (evaluated every epoch; early stopping and the kept
//         weights follow its metric), label (required), features, text (a text column: the
//         text architecture), architecture (mlp | cnn | text, from the above), image_shape
//         ([c, h, w], cnn), hidden, task (classification | regression), epochs (10),
//         batch_size (64), learning_rate (0.001), optimizer (adam | adamw | sgd), momentum,
//         weight_decay, dropout (0.25), patience (0: no early stopping), seed (42), threads,
//         embedding_dim (64), ngrams (2), min_count (1), experiment
//   outputs: run, artifact ("model/model.pt"), framework ("torchscript"), signature, classes,
//            labels (class names, when the labels are not numbers), metrics, best_epoch
#pragma once

#include "common/status.hpp"
#include "steps/step.hpp"

namespace aimass::steps {

Status TrainTorch(StepContext& ctx);

}  // namespace aimass::steps
