#include "steps/train_torch.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>

#include "steps/numeric_table.hpp"
#include "steps/torch_trainer.hpp"

namespace aimass::steps {

using nlohmann::json;

namespace {

Result<std::vector<int64_t>> InputIntegers(const json& in, const char* key) {
  std::vector<int64_t> out;
  auto it = in.find(key);
  if (it == in.end() || it->is_null()) return out;
  if (!it->is_array()) return Status::BadRequest(std::string("with.") + key + " is a list of whole numbers");
  for (const auto& v : *it) {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 1000000) {
      return Status::BadRequest(std::string("with.") + key + " is a list of whole numbers from 1");
    }
    out.push_back(v.get<int64_t>());
  }
  return out;
}

TorchTrainData ToData(NumericTable& t) {
  TorchTrainData d;
  d.rows = t.rows;
  d.features = t.features.size();
  d.x = std::move(t.x);
  d.texts = std::move(t.texts);
  d.y = std::move(t.y);
  return d;
}

}  // namespace

Status TrainTorch(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(auto train_ref, InputDataset(in, "train"));
  AIMASS_ASSIGN_OR_RETURN(std::string label, InputString(in, "label"));
  AIMASS_ASSIGN_OR_RETURN(std::vector<std::string> features, InputStrings(in, "features"));
  const std::string text = InputString(in, "text", "");

  TorchTrainOptions o;
  AIMASS_ASSIGN_OR_RETURN(o.image_shape, InputIntegers(in, "image_shape"));
  AIMASS_ASSIGN_OR_RETURN(o.hidden, InputIntegers(in, "hidden"));
  o.architecture = InputString(in, "architecture", !text.empty() ? "text" : !o.image_shape.empty() ? "cnn" : "mlp");
  if (o.architecture != "mlp" && o.architecture != "cnn" && o.architecture != "text") {
    return Status::BadRequest("with.architecture is mlp, cnn or text");
  }
  if (o.architecture == "text" && text.empty()) return Status::BadRequest("the text architecture reads the column with.text");
  if (o.architecture == "cnn" && o.image_shape.size() != 3) return Status::BadRequest("with.image_shape is [channels, height, width]");
  AIMASS_ASSIGN_OR_RETURN(int64_t epochs, InputCount(in, "epochs", 10, 1, 10000));
  AIMASS_ASSIGN_OR_RETURN(int64_t batch, InputCount(in, "batch_size", 64, 1, 1 << 20));
  AIMASS_ASSIGN_OR_RETURN(int64_t patience, InputCount(in, "patience", 0, 0, 10000));
  AIMASS_ASSIGN_OR_RETURN(int64_t seed, InputCount(in, "seed", 42, 0, int64_t{1} << 53));
  AIMASS_ASSIGN_OR_RETURN(int64_t threads, InputCount(in, "threads", JobThreads(), 1, 1024));
  AIMASS_ASSIGN_OR_RETURN(o.embedding_dim, InputCount(in, "embedding_dim", 64, 1, 4096));
  AIMASS_ASSIGN_OR_RETURN(o.ngrams, InputCount(in, "ngrams", 2, 1, 5));
  AIMASS_ASSIGN_OR_RETURN(o.min_count, InputCount(in, "min_count", 1, 1, 1000000));
  AIMASS_ASSIGN_OR_RETURN(o.learning_rate, InputNumber(in, "learning_rate", 1e-3));
  AIMASS_ASSIGN_OR_RETURN(o.momentum, InputNumber(in, "momentum", 0.9));
  AIMASS_ASSIGN_OR_RETURN(o.weight_decay, InputNumber(in, "weight_decay", 0));
  AIMASS_ASSIGN_OR_RETURN(o.dropout, InputNumber(in, "dropout", 0.25));
  if (!(o.learning_rate > 0 && o.learning_rate < 10)) return Status::BadRequest("with.learning_rate is above 0 and below 10");
  if (!(o.dropout >= 0 && o.dropout < 1)) return Status::BadRequest("with.dropout is from 0 to below 1");
  if (o.weight_decay < 0 || o.momentum < 0) return Status::BadRequest("with.weight_decay and with.momentum are not negative");
  o.optimizer = InputString(in, "optimizer", "adam");
  o.epochs = static_cast<int>(epochs);
  o.batch_size = static_cast<int>(batch);
  o.patience = static_cast<int>(patience);
  o.seed = static_cast<uint64_t>(seed);
  o.threads = static_cast<int>(threads);

  AIMASS_ASSIGN_OR_RETURN(StepContext::Table train_table, ctx.DownloadTable(train_ref.first, train_ref.second));
  AIMASS_ASSIGN_OR_RETURN(NumericTable train, ReadNumericTable(train_table.csv, label, features, text));
  std::string().swap(train_table.csv);
  std::optional<NumericTable> valid;
  json valid_version;
  if (in.contains("validation") && !in["validation"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(auto ref, InputDataset(in, "validation"));
    AIMASS_ASSIGN_OR_RETURN(StepContext::Table t, ctx.DownloadTable(ref.first, ref.second));
    AIMASS_ASSIGN_OR_RETURN(valid, ReadNumericTable(t.csv, label, train.features, text));
    valid_version = t.version;
  }

  // The task from the labels unless given: names or whole numbers from 0 are classes.
  std::string task = InputString(in, "task", "");
  int classes = ClassCount(train, 1000);
  if (task.empty()) task = !train.numeric_labels || classes > 0 ? "classification" : "regression";
  std::vector<std::string> names;  // class names, when the labels are not numbers
  if (task == "classification") {
    if (!train.numeric_labels) {
      std::map<std::string, float> index;
      for (const auto& l : train.labels) index.emplace(l, 0.0f);
      for (auto& [name, i] : index) {
        i = static_cast<float>(names.size());
        names.push_back(name);
      }
      classes = static_cast<int>(names.size());
      for (auto* t : {&train, valid ? &*valid : nullptr}) {
        if (!t) continue;
        for (size_t r = 0; r < t->rows; ++r) {
          auto it = index.find(t->labels[r]);
          if (it == index.end()) {
            return Status::BadRequest("the validation label '" + t->labels[r].substr(0, 64) + "' is not among the training labels");
          }
          t->y[r] = it->second;
        }
      }
    } else if (classes == 0) {
      return Status::BadRequest("classification labels are names or whole numbers from 0 (below 1000)");
    } else if (valid && ClassCount(*valid, classes) == 0 && valid->rows > 0) {
      return Status::BadRequest("a validation label is not a class of the training labels");
    }
  } else if (task == "regression") {
    AIMASS_RETURN_IF_ERROR(RequireNumericLabels(train));
    if (valid) AIMASS_RETURN_IF_ERROR(RequireNumericLabels(*valid));
    if (o.architecture == "text") return Status::BadRequest("the text architecture classifies; it does not regress");
  } else {
    return Status::BadRequest("with.task is classification or regression");
  }
  o.classification = task == "classification";
  o.classes = o.classification ? classes : 0;

  json params = {{"architecture", o.architecture}, {"task", task},          {"epochs", o.epochs},
                 {"batch_size", o.batch_size},     {"learning_rate", o.learning_rate}, {"optimizer", o.optimizer},
                 {"weight_decay", o.weight_decay}, {"dropout", o.dropout},   {"patience", o.patience},
                 {"seed", o.seed},                 {"threads", o.threads},   {"label", label}};
  if (!o.hidden.empty()) params["hidden"] = json(o.hidden).dump();
  if (!o.image_shape.empty()) params["image_shape"] = json(o.image_shape).dump();
  if (o.architecture == "text") {
    params["text"] = text;
    params["ngrams"] = o.ngrams;
    params["embedding_dim"] = o.embedding_dim;
  } else {
    params["features"] = train.features.size();
  }
  if (o.classification) params["classes"] = o.classes;
  std::string experiment = InputString(in, "experiment", ctx.pipeline().empty() ? "steps" : ctx.pipeline());
  AIMASS_ASSIGN_OR_RETURN(int64_t run, ctx.StartTrackingRun(experiment, params));
  json inputs = json::array({{{"dataset", train_ref.first}, {"version", train_table.version["version"]}}});
  if (valid) inputs.push_back({{"dataset", valid_version["dataset"]}, {"version", valid_version["version"]}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"inputs", inputs}}));
  std::cout << "training a " << o.architecture << " (" << task << ") on " << train.rows << " rows"
            << (valid ? ", validating on " + std::to_string(valid->rows) + " rows" : "") << ", " << o.threads
            << " threads\n" << std::flush;

  const std::string metric = o.classification ? "validation_accuracy" : "validation_rmse";
  std::optional<TorchTrainData> valid_data;
  if (valid) valid_data = ToData(*valid);
  auto on_epoch = [&](const TorchEpoch& e) -> Status {
    json points = json::array({{{"key", "train_loss"}, {"value", e.train_loss}, {"step", e.epoch}},
                               {{"key", "epoch_seconds"}, {"value", e.seconds}, {"step", e.epoch}},
                               {{"key", "examples_per_second"}, {"value", e.examples_per_second}, {"step", e.epoch}}});
    if (!std::isnan(e.validation_loss)) {
      points.push_back({{"key", "validation_loss"}, {"value", e.validation_loss}, {"step", e.epoch}});
      points.push_back({{"key", metric}, {"value", e.validation_metric}, {"step", e.epoch}});
    }
    std::cout << "epoch " << e.epoch << ": train_loss " << e.train_loss;
    if (!std::isnan(e.validation_loss)) std::cout << ", " << metric << " " << e.validation_metric;
    std::cout << " (" << e.seconds << " s, " << static_cast<int64_t>(e.examples_per_second) << " examples/s)\n" << std::flush;
    return ctx.LogToRun(run, {{"metrics", points}});
  };
  AIMASS_ASSIGN_OR_RETURN(TorchTrainResult result,
                          steps::TrainTorch(o, ToData(train), valid_data ? &*valid_data : nullptr, on_epoch));
  std::cout << result.summary << ", " << result.parameters << " parameters; kept epoch " << result.best_epoch << "\n"
            << std::flush;

  // The summary metrics: the kept epoch's.
  json metrics = json::object();
  const TorchEpoch& kept = result.epochs[static_cast<size_t>(result.best_epoch - 1)];
  metrics["train_loss"] = kept.train_loss;
  if (!std::isnan(kept.validation_metric)) {
    metrics[o.classification ? "accuracy" : "rmse"] = kept.validation_metric;
    metrics["validation_loss"] = kept.validation_loss;
  }
  json summary_points = json::array();
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    if (it.key() != "train_loss" && it.key() != "validation_loss") summary_points.push_back({{"key", it.key()}, {"value", it.value()}});
  }
  summary_points.push_back({{"key", "best_epoch"}, {"value", result.best_epoch}});
  summary_points.push_back({{"key", "parameters"}, {"value", result.parameters}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"metrics", summary_points}}));

  json signature = {
      {"inputs", json::array({{{"name", o.architecture == "text" ? "text" : "input"},
                               {"datatype", result.input_datatype},
                               {"shape", result.input_shape}}})},
      {"outputs", json::array({{{"name", o.classification ? "probabilities" : "value"},
                                {"datatype", "FP32"},
                                {"shape", result.output_shape}}})}};
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/model.pt", std::move(result.torchscript), "application/octet-stream"));
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/signature.json", signature.dump(2), "application/json"));
  AIMASS_RETURN_IF_ERROR(ctx.FinishTrackingRun(run));

  ctx.Output("run", run);
  ctx.Output("artifact", "model/model.pt");
  ctx.Output("framework", "torchscript");
  ctx.Output("signature", signature);
  if (o.classification) ctx.Output("classes", o.classes);
  if (!names.empty()) ctx.Output("labels", names);
  ctx.Output("metrics", metrics);
  ctx.Output("best_epoch", result.best_epoch);
  return Status::Ok();
}

}  // namespace aimass::steps
