#include "steps/train_assist.hpp"

#include <filesystem>
#include <iostream>

#include "text/nlu_definition.hpp"
#include "text/nlu_trainer.hpp"

namespace aimass::steps {

using nlohmann::json;

Status TrainAssist(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(std::string bot, InputString(in, "bot"));
  AIMASS_ASSIGN_OR_RETURN(int64_t version, InputCount(in, "version", 0, 1, int64_t{1} << 40));
  AIMASS_ASSIGN_OR_RETURN(json v, ctx.Call(http::Method::kGet, "/api/v1/assist/bots/" + bot + "/versions/" +
                                                                     std::to_string(version)));
  if (!v.contains("definition")) return Status::Internal("the bot version has no definition");
  AIMASS_ASSIGN_OR_RETURN(auto read, text::ReadNluDefinition(v["definition"]));
  auto& [spec, examples] = read;
  spec.work_dir = std::filesystem::current_path().string();
  spec.extra = {{"bot", bot}, {"bot_version", version}};

  json params = {{"bot", bot}, {"bot_version", version}, {"language", spec.language}, {"intents", spec.intents.size()},
                 {"examples", examples.size()}, {"holdout", spec.holdout}};
  std::string kinds;
  for (const auto& k : spec.kinds) kinds += (kinds.empty() ? "" : ",") + k;
  params["kinds"] = kinds;
  const std::string experiment = InputString(in, "experiment", ctx.pipeline().empty() ? "assist-" + bot : ctx.pipeline());
  AIMASS_ASSIGN_OR_RETURN(int64_t run, ctx.StartTrackingRun(experiment, params));
  AIMASS_ASSIGN_OR_RETURN(text::NluTrainResult r,
                          text::TrainNlu(spec, examples, [](const std::string& line) { std::cout << line << "\n" << std::flush; }));

  const json& e = r.evaluation;
  json metrics = json::object();
  for (const char* k : {"accuracy", "in_scope_accuracy", "out_of_scope_recall", "macro_f1", "threshold", "train_seconds"}) {
    if (e.contains(k) && e[k].is_number()) metrics[k] = e[k];
  }
  for (const auto& kind : e["kinds"]) {
    for (const char* k : {"accuracy", "in_scope_accuracy", "out_of_scope_recall", "train_seconds"}) {
      if (kind.contains(k) && kind[k].is_number()) metrics[kind["kind"].get<std::string>() + "/" + k] = kind[k];
    }
  }
  json points = json::array();
  for (auto it = metrics.begin(); it != metrics.end(); ++it) points.push_back({{"key", it.key()}, {"value", it.value()}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"metrics", points}}));
  json signature = {{"inputs", json::array({{{"name", "text"}, {"datatype", "BYTES"}, {"shape", {-1}}}})},
                    {"outputs", json::array({{{"name", "intent"}, {"datatype", "BYTES"}, {"shape", {-1}}},
                                             {{"name", "confidence"}, {"datatype", "FP32"}, {"shape", {-1}}},
                                             {{"name", "probabilities"}, {"datatype", "FP32"},
                                              {"shape", {-1, static_cast<int64_t>(spec.intents.size())}}},
                                             {{"name", "entities"}, {"datatype", "BYTES"}, {"shape", {-1}}}})}};
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/model.nlu", std::move(r.model), "application/octet-stream"));
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/signature.json", signature.dump(2), "application/json"));
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "evaluation.json", e.dump(2), "application/json"));
  AIMASS_RETURN_IF_ERROR(ctx.FinishTrackingRun(run));
  std::cout << "kept " << e["kind"].get<std::string>() << ": held-out accuracy " << e["accuracy"].dump() << "\n" << std::flush;

  ctx.Output("run", run);
  ctx.Output("artifact", "model/model.nlu");
  ctx.Output("framework", "nlu");
  ctx.Output("signature", signature);
  ctx.Output("metrics", metrics);
  ctx.Output("evaluation", e);
  return Status::Ok();
}

}  // namespace aimass::steps
