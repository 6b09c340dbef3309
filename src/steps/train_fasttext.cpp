#include "steps/train_fasttext.hpp"

#include <fasttext/fasttext.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "common/file.hpp"
#include "common/words.hpp"
#include "steps/numeric_table.hpp"

namespace aimass::steps {

using nlohmann::json;

namespace {

// fastText keeps its training loss to itself (set when training ends).
class Trainer : public fasttext::FastText {
 public:
  double Loss() const { return loss_; }
};

// fastText's labels carry no spaces and sort as the classes are numbered: __label__0000, …
std::string LabelOf(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "__label__%04zu", index);
  return buf;
}

}  // namespace

Status TrainFastText(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(auto train_ref, InputDataset(in, "train"));
  AIMASS_ASSIGN_OR_RETURN(std::string label, InputString(in, "label"));
  AIMASS_ASSIGN_OR_RETURN(std::string text, InputString(in, "text"));
  fasttext::Args args;
  args.model = fasttext::model_name::sup;
  args.verbose = 0;
  AIMASS_ASSIGN_OR_RETURN(int64_t epochs, InputCount(in, "epochs", 25, 1, 10000));
  AIMASS_ASSIGN_OR_RETURN(int64_t ngrams, InputCount(in, "word_ngrams", 2, 1, 5));
  AIMASS_ASSIGN_OR_RETURN(int64_t dim, InputCount(in, "dim", 100, 1, 1000));
  AIMASS_ASSIGN_OR_RETURN(int64_t min_count, InputCount(in, "min_count", 1, 1, 1000000));
  AIMASS_ASSIGN_OR_RETURN(int64_t bucket, InputCount(in, "bucket", 200000, 0, 100000000));
  AIMASS_ASSIGN_OR_RETURN(int64_t threads, InputCount(in, "threads", JobThreads(), 1, 1024));
  AIMASS_ASSIGN_OR_RETURN(int64_t seed, InputCount(in, "seed", 0, 0, 1 << 30));
  AIMASS_ASSIGN_OR_RETURN(args.lr, InputNumber(in, "learning_rate", 0.5));
  if (!(args.lr > 0 && args.lr <= 10)) return Status::BadRequest("with.learning_rate is above 0, at most 10");
  const std::string loss = InputString(in, "loss", "softmax");
  static const std::map<std::string, fasttext::loss_name> kLosses = {{"softmax", fasttext::loss_name::softmax},
                                                                     {"ova", fasttext::loss_name::ova},
                                                                     {"hs", fasttext::loss_name::hs},
                                                                     {"ns", fasttext::loss_name::ns}};
  if (!kLosses.count(loss)) return Status::BadRequest("with.loss is softmax, ova, hs or ns");
  args.loss = kLosses.at(loss);
  args.epoch = static_cast<int>(epochs);
  args.wordNgrams = static_cast<int>(ngrams);
  args.dim = static_cast<int>(dim);
  args.minCount = static_cast<int>(min_count);
  args.bucket = static_cast<int>(bucket);
  args.thread = static_cast<int>(threads);
  args.seed = static_cast<int>(seed);

  AIMASS_ASSIGN_OR_RETURN(StepContext::Table train_table, ctx.DownloadTable(train_ref.first, train_ref.second));
  AIMASS_ASSIGN_OR_RETURN(NumericTable train, ReadNumericTable(train_table.csv, label, {}, text));
  std::optional<NumericTable> valid;
  json valid_version;
  if (in.contains("validation") && !in["validation"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(auto ref, InputDataset(in, "validation"));
    AIMASS_ASSIGN_OR_RETURN(StepContext::Table t, ctx.DownloadTable(ref.first, ref.second));
    AIMASS_ASSIGN_OR_RETURN(valid, ReadNumericTable(t.csv, label, {}, text));
    valid_version = t.version;
  }

  // Classes: whole numbers from 0 by their value, names in sorted order (as train.torch).
  std::vector<std::string> names;
  std::map<std::string, size_t> index;
  const int numeric = train.numeric_labels ? ClassCount(train, 100000) : 0;
  if (numeric > 0) {
    for (int c = 0; c < numeric; ++c) names.push_back(std::to_string(c));
    for (size_t r = 0; r < train.rows; ++r) index.emplace(train.labels[r], static_cast<size_t>(train.y[r]));
    if (valid) {
      for (size_t r = 0; r < valid->rows; ++r) {
        if (valid->numeric_labels && valid->y[r] >= 0 && valid->y[r] < numeric) index.emplace(valid->labels[r], static_cast<size_t>(valid->y[r]));
      }
    }
  } else {
    std::map<std::string, size_t> sorted;
    for (const auto& l : train.labels) sorted.emplace(l, 0);
    for (auto& [name, i] : sorted) {
      i = names.size();
      names.push_back(name);
    }
    index = std::move(sorted);
  }
  if (names.size() < 2) return Status::BadRequest("the labels hold fewer than two classes");

  // fastText reads its training data from a file: "__label__0003 the words".
  const std::string path = "train.txt";
  {
    std::ofstream out(path, std::ios::trunc);
    for (size_t r = 0; r < train.rows; ++r) out << LabelOf(index.at(train.labels[r])) << ' ' << NormalizeWords(train.texts[r]) << '\n';
    if (!out) return Status::Internal("cannot write the training file");
  }
  args.input = path;

  json params = {{"epochs", epochs}, {"learning_rate", args.lr}, {"word_ngrams", ngrams}, {"dim", dim},
                 {"min_count", min_count}, {"bucket", bucket}, {"loss", loss}, {"threads", threads},
                 {"seed", seed}, {"label", label}, {"text", text}, {"classes", names.size()}};
  std::string experiment = InputString(in, "experiment", ctx.pipeline().empty() ? "steps" : ctx.pipeline());
  AIMASS_ASSIGN_OR_RETURN(int64_t run, ctx.StartTrackingRun(experiment, params));
  json inputs = json::array({{{"dataset", train_ref.first}, {"version", train_table.version["version"]}}});
  if (valid) inputs.push_back({{"dataset", valid_version["dataset"]}, {"version", valid_version["version"]}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"inputs", inputs}}));
  std::cout << "training fastText on " << train.rows << " texts, " << names.size() << " classes, " << threads
            << " threads\n" << std::flush;

  // Progress: fastText calls back from its first thread (its loss is only known at the end);
  // each epoch boundary logs the learning rate and the speed.
  Trainer ft;
  int64_t logged = 0;
  Status log_status;
  auto started = std::chrono::steady_clock::now();
  auto callback = [&](float progress, float, double words_per_thread, double lr, int64_t) {
    int64_t epoch = static_cast<int64_t>(std::floor(progress * static_cast<float>(epochs) + 1e-4f));
    if (epoch <= logged || epoch < 1) return;
    logged = epoch;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    json points = json::array({{{"key", "learning_rate"}, {"value", lr}, {"step", epoch}},
                               {{"key", "words_per_second"}, {"value", words_per_thread * static_cast<double>(threads)}, {"step", epoch}},
                               {{"key", "seconds"}, {"value", seconds}, {"step", epoch}}});
    if (log_status.ok()) log_status = ctx.LogToRun(run, {{"metrics", points}});
  };
  try {
    ft.train(args, callback);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("fastText: ") + e.what());
  }
  std::remove(path.c_str());
  AIMASS_RETURN_IF_ERROR(log_status);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "trained in " << seconds << " s\n" << std::flush;

  // The validation accuracy, predicting as serving does.
  json metrics = json::object();
  if (valid && valid->rows > 0) {
    size_t right = 0, seen = 0;
    std::vector<std::pair<fasttext::real, std::string>> predictions;
    for (size_t r = 0; r < valid->rows; ++r) {
      auto it = index.find(valid->labels[r]);
      if (it == index.end()) {
        return Status::BadRequest("the validation label '" + valid->labels[r].substr(0, 64) + "' is not among the training labels");
      }
      std::istringstream line(NormalizeWords(valid->texts[r]) + "\n");
      predictions.clear();
      ft.predictLine(line, predictions, 1, 0.0);
      right += !predictions.empty() && predictions[0].second == LabelOf(it->second);
      ++seen;
    }
    metrics["accuracy"] = static_cast<double>(right) / static_cast<double>(seen);
    std::cout << "validation accuracy " << metrics["accuracy"] << " on " << seen << " texts\n" << std::flush;
  }
  metrics["train_seconds"] = seconds;
  metrics["train_loss"] = ft.Loss();
  json summary = json::array();
  for (auto it = metrics.begin(); it != metrics.end(); ++it) summary.push_back({{"key", it.key()}, {"value", it.value()}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"metrics", summary}}));

  try {
    ft.saveModel("model.bin");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("fastText: ") + e.what());
  }
  AIMASS_ASSIGN_OR_RETURN(std::string bytes, ReadFile("model.bin"));
  json signature = {{"inputs", json::array({{{"name", "text"}, {"datatype", "BYTES"}, {"shape", {-1}}}})},
                    {"outputs", json::array({{{"name", "probabilities"}, {"datatype", "FP32"},
                                              {"shape", {-1, static_cast<int64_t>(names.size())}}}})}};
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/model.bin", std::move(bytes), "application/octet-stream"));
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/signature.json", signature.dump(2), "application/json"));
  AIMASS_RETURN_IF_ERROR(ctx.FinishTrackingRun(run));

  ctx.Output("run", run);
  ctx.Output("artifact", "model/model.bin");
  ctx.Output("framework", "fasttext");
  ctx.Output("signature", signature);
  ctx.Output("classes", names.size());
  ctx.Output("labels", names);
  ctx.Output("metrics", metrics);
  return Status::Ok();
}

}  // namespace aimass::steps
