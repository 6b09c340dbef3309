#include "steps/register.hpp"

#include <iostream>

#include "common/text.hpp"

namespace aimass::steps {

using nlohmann::json;

Status Register(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(std::string model, InputString(in, "model"));
  AIMASS_ASSIGN_OR_RETURN(std::string framework, InputString(in, "framework"));
  AIMASS_ASSIGN_OR_RETURN(double run_number, InputNumber(in, "run", 0));
  if (run_number < 1) return Status::BadRequest("with.run is the id of the tracking run that made the model");
  const int64_t run = static_cast<int64_t>(run_number);
  const std::string artifact = InputString(in, "artifact", "model/model.json");
  const std::string task = InputString(in, "task", "");
  const std::string alias = InputString(in, "alias", "");

  AIMASS_ASSIGN_OR_RETURN(json r, ctx.Call(http::Method::kGet, "/api/v1/runs/" + std::to_string(run)));
  const std::string path = "/api/v1/runs/" + std::to_string(run) + "/artifacts/" + PercentEncode(artifact, true);
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse bytes, ctx.Send(http::Method::kGet, path, "", {}));
  if (bytes.status != 200) return Status::NotFound("run " + std::to_string(run) + " has no artifact '" + artifact + "'");

  json create = {{"name", model}, {"description", "registered by pipeline " + ctx.pipeline()}};
  if (!task.empty()) create["task"] = task;
  auto made = ctx.Call(http::Method::kPost, "/api/v1/models", &create);
  if (!made.ok() && made.status().code() != Code::kConflict) return made.status();

  json metrics = json::object();
  for (auto it = r["metrics"].begin(); it != r["metrics"].end(); ++it) {
    if (!it.key().starts_with("system/")) metrics[it.key()] = it.value()["value"];
  }
  json lineage = {{"run", run},
                  {"experiment", r["experiment"]},
                  {"datasets", r["inputs"]},
                  {"pipeline", ctx.pipeline()},
                  {"pipeline_run", ctx.run()},
                  {"step", ctx.step()}};
  json meta = {{"metrics", metrics}, {"params", r["params"]}, {"lineage", lineage}};
  // The signature: given, or the run's `signature.json` beside the artifact (train.torch
  // stores one; TorchScript records no types or shapes).
  if (in.contains("signature") && in["signature"].is_object()) {
    meta["signature"] = in["signature"];
  } else {
    size_t slash = artifact.rfind('/');
    std::string sig_path = (slash == std::string::npos ? "" : artifact.substr(0, slash + 1)) + "signature.json";
    AIMASS_ASSIGN_OR_RETURN(http::ClientResponse sig,
                            ctx.Send(http::Method::kGet,
                                     "/api/v1/runs/" + std::to_string(run) + "/artifacts/" + PercentEncode(sig_path, true), "", {}));
    json parsed = sig.status == 200 ? json::parse(sig.body, nullptr, false) : json();
    if (parsed.is_object()) meta["signature"] = parsed;
  }
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse pushed,
                          ctx.Send(http::Method::kPost,
                                   "/api/v1/models/" + PercentEncode(model) + "/versions?framework=" + PercentEncode(framework),
                                   std::move(bytes.body),
                                   {{"Content-Type", "application/octet-stream"}, {"X-Model-Metadata", meta.dump()}}));
  json v = json::parse(pushed.body, nullptr, false);
  if (pushed.status != 201 || !v.is_object()) {
    std::string why = v.is_object() && v.contains("error") ? v["error"].value("message", "") : pushed.body.substr(0, 200);
    return Status::Internal("registering " + model + ": HTTP " + std::to_string(pushed.status) + ": " + why);
  }
  const int64_t version = v["version"].get<int64_t>();
  std::cout << "registered " << model << " version " << version << " from run " << run << "\n" << std::flush;
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"outputs", json::array({{{"model", model}, {"version", version}}})}}));
  if (!alias.empty()) {
    json move = {{"version", version}};
    AIMASS_RETURN_IF_ERROR(
        ctx.Call(http::Method::kPut, "/api/v1/models/" + PercentEncode(model) + "/aliases/" + PercentEncode(alias), &move)
            .status());
  }
  ctx.Output("model", model);
  ctx.Output("version", version);
  return Status::Ok();
}

}  // namespace aimass::steps
