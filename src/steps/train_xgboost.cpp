#include "steps/train_xgboost.hpp"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "common/file.hpp"


namespace aimass::steps {

using nlohmann::json;

namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();

Status Xgb(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  return Status::Internal(std::string("XGBoost ") + what + ": " + XGBGetLastError());
}

struct DMatrix {
  DMatrixHandle h = nullptr;
  ~DMatrix() {
    if (h) XGDMatrixFree(h);
  }
};

Result<std::unique_ptr<DMatrix>> MakeMatrix(const NumericTable& t) {
  auto m = std::make_unique<DMatrix>();
  AIMASS_RETURN_IF_ERROR(Xgb(XGDMatrixCreateFromMat(t.x.data(), t.rows, t.features.size(), kMissing, &m->h), "matrix"));
  AIMASS_RETURN_IF_ERROR(Xgb(XGDMatrixSetFloatInfo(m->h, "label", t.y.data(), t.rows), "labels"));
  return m;
}

// "[3]\ttrain-mlogloss:0.51\tvalidation-merror:0.12" → {"train-mlogloss": 0.51, …}
std::map<std::string, double> ParseEval(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string item;
  while (in >> item) {
    size_t colon = item.rfind(':');
    if (colon == std::string::npos || item.front() == '[') continue;
    out[item.substr(0, colon)] = std::strtod(item.c_str() + colon + 1, nullptr);
  }
  return out;
}

}  // namespace

Status TrainXgboost(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(auto train_ref, InputDataset(in, "train"));
  AIMASS_ASSIGN_OR_RETURN(std::string label, InputString(in, "label"));
  AIMASS_ASSIGN_OR_RETURN(std::vector<std::string> features, InputStrings(in, "features"));
  AIMASS_ASSIGN_OR_RETURN(double rounds, InputNumber(in, "num_round", 100));
  AIMASS_ASSIGN_OR_RETURN(double depth, InputNumber(in, "max_depth", 6));
  AIMASS_ASSIGN_OR_RETURN(double eta, InputNumber(in, "eta", 0.3));
  AIMASS_ASSIGN_OR_RETURN(double subsample, InputNumber(in, "subsample", 1));
  AIMASS_ASSIGN_OR_RETURN(double early, InputNumber(in, "early_stopping_rounds", 0));
  AIMASS_ASSIGN_OR_RETURN(double seed, InputNumber(in, "seed", 0));
  AIMASS_ASSIGN_OR_RETURN(double threads, InputNumber(in, "threads", JobThreads()));
  if (rounds < 1 || rounds > 100000) return Status::BadRequest("with.num_round is 1 to 100000");

  AIMASS_ASSIGN_OR_RETURN(StepContext::Table train_table, ctx.DownloadTable(train_ref.first, train_ref.second));
  AIMASS_ASSIGN_OR_RETURN(NumericTable train, ReadNumericTable(train_table.csv, label, features));
  AIMASS_RETURN_IF_ERROR(RequireNumericLabels(train));
  std::optional<NumericTable> valid;
  json valid_version;
  if (in.contains("validation") && !in["validation"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(auto ref, InputDataset(in, "validation"));
    AIMASS_ASSIGN_OR_RETURN(StepContext::Table t, ctx.DownloadTable(ref.first, ref.second));
    AIMASS_ASSIGN_OR_RETURN(valid, ReadNumericTable(t.csv, label, train.features));
    AIMASS_RETURN_IF_ERROR(RequireNumericLabels(*valid));
    valid_version = t.version;
  }

  // The objective from the label unless given: 0/1 → binary, few whole values → classes.
  std::set<float> values(train.y.begin(), train.y.end());
  bool whole = std::all_of(values.begin(), values.end(), [](float v) { return v >= 0 && v == std::floor(v); });
  std::string objective = InputString(in, "objective", "");
  int classes = 0;
  if (objective.empty()) {
    if (whole && values.size() == 2 && *values.rbegin() == 1) objective = "binary:logistic";
    else if (whole && values.size() <= 100) objective = "multi:softprob";
    else objective = "reg:squarederror";
  }
  if (objective.starts_with("multi:")) classes = static_cast<int>(*values.rbegin()) + 1;
  std::cout << "training XGBoost (" << objective << ") on " << train.rows << " rows × " << train.features.size()
            << " features" << (valid ? ", validating on " + std::to_string(valid->rows) + " rows" : "") << "\n"
            << std::flush;

  json params = {{"objective", objective}, {"num_round", static_cast<int64_t>(rounds)}, {"max_depth", static_cast<int64_t>(depth)},
                 {"eta", eta},             {"subsample", subsample},                     {"seed", static_cast<int64_t>(seed)},
                 {"label", label},         {"features", train.features.size()}};
  std::string experiment = InputString(in, "experiment", ctx.pipeline().empty() ? "steps" : ctx.pipeline());
  AIMASS_ASSIGN_OR_RETURN(int64_t run, ctx.StartTrackingRun(experiment, params));
  json inputs = json::array({{{"dataset", train_ref.first}, {"version", train_table.version["version"]}}});
  if (valid) inputs.push_back({{"dataset", valid_version["dataset"]}, {"version", valid_version["version"]}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"inputs", inputs}}));

  AIMASS_ASSIGN_OR_RETURN(auto dtrain, MakeMatrix(train));
  std::unique_ptr<DMatrix> dvalid;
  if (valid) {
    AIMASS_ASSIGN_OR_RETURN(dvalid, MakeMatrix(*valid));
  }
  std::vector<DMatrixHandle> cache = {dtrain->h};
  if (dvalid) cache.push_back(dvalid->h);
  BoosterHandle booster = nullptr;
  AIMASS_RETURN_IF_ERROR(Xgb(XGBoosterCreate(cache.data(), cache.size(), &booster), "booster"));
  std::unique_ptr<void, int (*)(BoosterHandle)> guard(booster, XGBoosterFree);
  auto set = [&](const char* k, const std::string& v) { return Xgb(XGBoosterSetParam(booster, k, v.c_str()), k); };
  AIMASS_RETURN_IF_ERROR(set("objective", objective));
  AIMASS_RETURN_IF_ERROR(set("max_depth", std::to_string(static_cast<int>(depth))));
  AIMASS_RETURN_IF_ERROR(set("eta", std::to_string(eta)));
  AIMASS_RETURN_IF_ERROR(set("subsample", std::to_string(subsample)));
  AIMASS_RETURN_IF_ERROR(set("seed", std::to_string(static_cast<int64_t>(seed))));
  AIMASS_RETURN_IF_ERROR(set("nthread", std::to_string(static_cast<int>(threads))));
  AIMASS_RETURN_IF_ERROR(set("tree_method", "hist"));
  if (classes) {
    AIMASS_RETURN_IF_ERROR(set("num_class", std::to_string(classes)));
    AIMASS_RETURN_IF_ERROR(set("eval_metric", "mlogloss"));
    AIMASS_RETURN_IF_ERROR(set("eval_metric", "merror"));
  }
  std::vector<const char*> names = {"train"};
  if (dvalid) names.push_back("validation");

  std::map<std::string, double> last;
  double best = std::numeric_limits<double>::infinity();
  int best_round = 0;
  const std::string watch = dvalid ? "validation-" : "train-";
  for (int round = 0; round < static_cast<int>(rounds); ++round) {
    AIMASS_RETURN_IF_ERROR(Xgb(XGBoosterUpdateOneIter(booster, round, dtrain->h), "update"));
    const char* eval = nullptr;
    AIMASS_RETURN_IF_ERROR(Xgb(XGBoosterEvalOneIter(booster, round, cache.data(), names.data(), cache.size(), &eval), "eval"));
    last = ParseEval(eval);
    json points = json::array();
    for (const auto& [k, v] : last) {
      std::string key = k;
      std::replace(key.begin(), key.end(), '-', '_');
      points.push_back({{"key", key}, {"value", v}, {"step", round}});
    }
    AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"metrics", points}}));
    if (round % 10 == 0 || round + 1 == static_cast<int>(rounds)) std::cout << eval << "\n" << std::flush;
    // Early stopping on the first metric of the watched set (lower is better for XGBoost's
    // default metrics: logloss, error, rmse).
    for (const auto& [k, v] : last) {
      if (!k.starts_with(watch)) continue;
      if (v < best) {
        best = v;
        best_round = round;
      }
      break;
    }
    if (early > 0 && round - best_round >= static_cast<int>(early)) {
      std::cout << "stopping early at round " << round << " (best " << best_round << ")\n";
      break;
    }
  }
  // Accuracy for classification, from the watched error rate.
  json metrics = json::object();
  for (const auto& [k, v] : last) {
    std::string key = k;
    std::replace(key.begin(), key.end(), '-', '_');
    metrics[key] = v;
  }
  if (classes || objective == "binary:logistic") {
    std::string err = watch + (classes ? "merror" : "error");
    if (last.count(err)) {
      metrics["accuracy"] = 1 - last[err];
      AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"metrics", json::array({{{"key", "accuracy"}, {"value", 1 - last[err]}}})}}));
    }
  }

  const std::string path = "model.json";
  AIMASS_RETURN_IF_ERROR(Xgb(XGBoosterSaveModel(booster, path.c_str()), "save"));
  AIMASS_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/model.json", std::move(bytes), "application/json"));
  AIMASS_RETURN_IF_ERROR(ctx.FinishTrackingRun(run));

  ctx.Output("run", run);
  ctx.Output("artifact", "model/model.json");
  ctx.Output("framework", "xgboost");
  ctx.Output("features", train.features);
  if (classes || objective == "binary:logistic") ctx.Output("classes", classes ? classes : 2);
  ctx.Output("metrics", metrics);
  return Status::Ok();
}

}  // namespace aimass::steps
