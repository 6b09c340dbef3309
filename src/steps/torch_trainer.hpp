// The LibTorch trainer behind the built-in step `train.torch`: a small network (an MLP for
// tables, a CNN for images, a bag-of-n-grams classifier for text) trained on numbers already
// in memory, and exported as a TorchScript module that takes what the table held (raw feature
// values, or strings) and answers probabilities or values. A plain interface: LibTorch's
// headers stay in torch_trainer.cpp, built as C++17 (CMakeLists.txt).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::steps {

struct TorchTrainOptions {
  std::string architecture = "mlp";     // mlp | cnn | text
  bool classification = true;           // else regression (one output, squared error)
  int classes = 0;                      // classification: labels are 0 … classes-1
  std::vector<int64_t> image_shape;     // cnn: {channels, height, width}, their product the features
  std::vector<int64_t> hidden;          // mlp: hidden layer widths; cnn: {conv1, conv2, dense}
  int64_t embedding_dim = 64;           // text
  int64_t ngrams = 2;                   // text: words and n-grams up to this
  int64_t min_count = 1;                // text: an n-gram seen fewer times is left out
  int epochs = 10;
  int batch_size = 64;
  double learning_rate = 1e-3;
  std::string optimizer = "adam";       // adam | adamw | sgd
  double momentum = 0.9;                // sgd
  double weight_decay = 0;
  double dropout = 0.25;
  int patience = 0;                     // early stopping: epochs without a better validation metric; 0 off
  uint64_t seed = 42;
  int threads = 1;
};

// Rows of features (row-major, NaN for missing) or of text, and their labels (class indices,
// or values for regression).
struct TorchTrainData {
  size_t rows = 0;
  size_t features = 0;
  std::vector<float> x;
  std::vector<std::string> texts;
  std::vector<float> y;
};

struct TorchEpoch {
  int epoch = 0;                  // from 1
  double train_loss = 0;
  double validation_loss = 0;     // NaN without validation data
  double validation_metric = 0;   // accuracy (classification) or RMSE (regression); NaN without
  double seconds = 0;             // the epoch's training time, evaluation not included
  double examples_per_second = 0;
};

struct TorchTrainResult {
  std::string torchscript;        // the saved module (torch::jit::save)
  std::vector<TorchEpoch> epochs;
  int best_epoch = 0;             // the weights kept: the best validation metric's, else the last
  int64_t parameters = 0;
  std::string input_datatype;     // "FP32" (features) or "BYTES" (text)
  std::vector<int64_t> input_shape;   // [-1, features] or [-1]
  std::vector<int64_t> output_shape;  // [-1, classes] or [-1, 1]
  std::string summary;            // the network, one line
};

// Trains; `on_epoch` hears each epoch as it ends (its Status stops training when not ok). The
// exported module is loaded back and checked against the trained network on sample rows before
// it is returned. The rows' features are normalised in place (the validation rows' too).
Result<TorchTrainResult> TrainTorch(const TorchTrainOptions& options, TorchTrainData train,
                                    TorchTrainData* validation,
                                    const std::function<Status(const TorchEpoch&)>& on_epoch);

// The words of a text as the text model sees them (ASCII lower case, punctuation as spaces,
// split on white space), and the n-grams of those words joined by a space: what both the
// trainer and the exported module compute.
std::vector<std::string> TextTerms(const std::string& text, int64_t ngrams);

}  // namespace aimass::steps
