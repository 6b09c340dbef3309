#include "steps/evaluate.hpp"

#include <cmath>
#include <iostream>
#include <map>

#include "common/text.hpp"
#include "steps/evaluation_metrics.hpp"
#include "steps/numeric_table.hpp"

namespace aimass::steps {

using nlohmann::json;

Status Evaluate(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(auto data_ref, InputDataset(in, "dataset"));
  AIMASS_ASSIGN_OR_RETURN(std::string label, InputString(in, "label"));
  AIMASS_ASSIGN_OR_RETURN(double batch, InputNumber(in, "batch", 256));
  AIMASS_ASSIGN_OR_RETURN(double run_number, InputNumber(in, "run", 0));
  AIMASS_ASSIGN_OR_RETURN(std::vector<std::string> features, InputStrings(in, "features"));
  if (batch < 1 || batch > 65536) return Status::BadRequest("with.batch is 1 to 65536");
  AIMASS_ASSIGN_OR_RETURN(StepContext::Table table, ctx.DownloadTable(data_ref.first, data_ref.second));
  const std::string text = InputString(in, "text", "");
  AIMASS_ASSIGN_OR_RETURN(NumericTable t, ReadNumericTable(table.csv, label, features, text));
  // Class names (what train.torch outputs as `labels`) turn named labels into the indices of
  // the model's outputs.
  if (in.contains("labels") && in["labels"].is_array()) {
    std::map<std::string, float> index;
    for (const auto& l : in["labels"]) index.emplace(l.is_string() ? l.get<std::string>() : l.dump(), static_cast<float>(index.size()));
    for (size_t r = 0; r < t.rows; ++r) {
      auto it = index.find(t.labels[r]);
      if (it == index.end()) return Status::BadRequest("the label '" + t.labels[r].substr(0, 64) + "' is not among with.labels");
      t.y[r] = it->second;
    }
  } else {
    AIMASS_RETURN_IF_ERROR(RequireNumericLabels(t));
  }

  // The deployment to ask: given, or one made for this step from model and version.
  std::string deployment = InputString(in, "deployment", "");
  std::string model;
  int64_t version = 0;
  int64_t run = static_cast<int64_t>(run_number);
  bool temporary = false;
  if (deployment.empty()) {
    AIMASS_ASSIGN_OR_RETURN(auto chosen, ctx.InputModel());
    model = chosen.first;
    version = chosen.second;
    if (model.empty()) return Status::BadRequest("with.deployment, or with.model and with.version, say what to evaluate");
    if (version < 1) return Status::BadRequest("with.version is the model version to evaluate");
    deployment = ctx.ScratchDeployment("eval", version);
    json body = {{"name", deployment}, {"model", model}, {"version", version}};
    AIMASS_RETURN_IF_ERROR(ctx.Call(http::Method::kPost, "/api/v1/deployments", &body).status());
    temporary = true;
  }
  if (run == 0 && !model.empty() && version > 0) {
    auto v = ctx.Call(http::Method::kGet, "/api/v1/models/" + PercentEncode(model) + "/versions/" + std::to_string(version));
    if (v.ok() && (*v)["lineage"].is_object() && (*v)["lineage"].contains("run") && (*v)["lineage"]["run"].is_number()) {
      run = (*v)["lineage"]["run"].get<int64_t>();
    }
  }
  auto cleanup = [&] {
    if (temporary) (void)ctx.Send(http::Method::kDelete, "/api/v1/deployments/" + PercentEncode(deployment), "", {});
  };

  auto measure = [&]() -> Result<json> {
    AIMASS_ASSIGN_OR_RETURN(json meta, ctx.Call(http::Method::kGet, "/v2/models/" + PercentEncode(deployment)));
    std::string input = meta["inputs"].empty() ? "input" : meta["inputs"][0].value("name", "input");
    const size_t f = t.features.size();
    std::vector<std::vector<double>> scores;
    scores.reserve(t.rows);
    for (size_t at = 0; at < t.rows; at += static_cast<size_t>(batch)) {
      size_t n = std::min(static_cast<size_t>(batch), t.rows - at);
      json tensor = {{"name", input}};
      if (!text.empty()) {
        tensor["shape"] = {n};
        tensor["datatype"] = "BYTES";
        tensor["data"] = std::vector<std::string>(t.texts.begin() + static_cast<ptrdiff_t>(at),
                                                  t.texts.begin() + static_cast<ptrdiff_t>(at + n));
      } else {
        tensor["shape"] = {n, f};
        tensor["datatype"] = "FP32";
        tensor["data"] = std::vector<float>(t.x.begin() + static_cast<ptrdiff_t>(at * f),
                                            t.x.begin() + static_cast<ptrdiff_t>((at + n) * f));
      }
      json body = {{"inputs", json::array({tensor})}};
      AIMASS_ASSIGN_OR_RETURN(json answer, ctx.Call(http::Method::kPost, "/v2/models/" + PercentEncode(deployment) + "/infer", &body));
      const json& out = answer["outputs"][0];
      const json& data = out["data"];
      size_t width = data.size() / n;
      if (width == 0 || width * n != data.size()) return Status::Internal("the model answered " + std::to_string(data.size()) + " values for " + std::to_string(n) + " rows");
      for (size_t i = 0; i < n; ++i) {
        std::vector<double> row;
        for (size_t j = 0; j < width; ++j) row.push_back(data[i * width + j].get<double>());
        scores.push_back(std::move(row));
      }
    }
    std::string task = InputString(in, "task", "");
    if (task.empty()) {
      bool whole = std::all_of(t.y.begin(), t.y.end(), [](float y) { return y >= 0 && y == std::floor(y); });
      task = whole ? "classification" : "regression";
    }
    if (task == "classification") {
      std::vector<int> labels(t.y.begin(), t.y.end());
      return ClassificationMetrics(scores, labels);
    }
    if (task != "regression") return Status::BadRequest("with.task is classification or regression");
    std::vector<double> predicted, actual(t.y.begin(), t.y.end());
    for (const auto& s : scores) predicted.push_back(s[0]);
    return RegressionMetrics(predicted, actual);
  };
  auto report = measure();
  cleanup();
  if (!report.ok()) return report.status();

  json summary = json::object();
  for (const char* key : {"accuracy", "macro_f1", "roc_auc", "rmse", "mae", "r2"}) {
    if (report->contains(key) && (*report)[key].is_number()) summary[key] = (*report)[key];
  }
  summary["examples"] = (*report)["examples"];
  std::cout << "evaluated " << deployment << " on " << t.rows << " rows of " << data_ref.first << ": " << summary.dump()
            << "\n" << std::flush;
  if (run > 0) {
    json points = json::array();
    for (auto it = summary.begin(); it != summary.end(); ++it) {
      if (it.key() != "examples") points.push_back({{"key", "test_" + it.key()}, {"value", it.value()}});
    }
    json batch_log = {{"metrics", points},
                      {"inputs", json::array({{{"dataset", data_ref.first}, {"version", table.version["version"]}}})}};
    AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, batch_log));
    AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "evaluation/report.json", report->dump(2), "application/json"));
  }
  ctx.Output("metrics", summary);
  ctx.Output("run", run);
  if (!model.empty()) {
    ctx.Output("model", model);
    ctx.Output("version", version);
  }
  return Status::Ok();
}

}  // namespace aimass::steps
