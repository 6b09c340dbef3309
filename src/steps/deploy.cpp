#include "steps/deploy.hpp"

#include <iostream>

#include "common/text.hpp"

namespace aimass::steps {

using nlohmann::json;

Status Deploy(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(std::string name, InputString(in, "deployment"));
  AIMASS_ASSIGN_OR_RETURN(auto chosen, ctx.InputModel());
  const std::string model = chosen.first;
  const int64_t v = chosen.second;
  AIMASS_ASSIGN_OR_RETURN(double weight, InputNumber(in, "canary_weight", 0));
  if (model.empty()) return Status::BadRequest("with.model is required");
  if (v < 1) return Status::BadRequest("with.version is the model version to serve");
  if (weight < 0 || weight > 100) return Status::BadRequest("with.canary_weight is 1 to 100");
  const std::string path = "/api/v1/deployments/" + PercentEncode(name);

  auto existing = ctx.Call(http::Method::kGet, path);
  bool canary = false;
  if (!existing.ok()) {
    if (existing.status().code() != Code::kNotFound) return existing.status();
    json body = {{"name", name}, {"model", model}, {"version", v}};
    if (in.contains("instances")) body["instances"] = in["instances"];
    AIMASS_RETURN_IF_ERROR(ctx.Call(http::Method::kPost, "/api/v1/deployments", &body).status());
    std::cout << "deployed " << model << " v" << v << " as " << name << "\n";
  } else {
    if ((*existing)["model"] != model) {
      return Status::Conflict("deployment '" + name + "' serves model '" + (*existing)["model"].get<std::string>() +
                              "', not '" + model + "'");
    }
    json body;
    if (weight > 0) {
      json traffic = {{"candidate", {{"version", v}}}, {"weight", static_cast<int64_t>(weight)}};
      if (in.contains("auto")) traffic["auto"] = in["auto"];
      body = {{"traffic", traffic}};
      canary = true;
    } else {
      body = {{"version", v}};
    }
    AIMASS_RETURN_IF_ERROR(ctx.Call(http::Method::kPatch, path, &body).status());
    std::cout << (canary ? "canary " : "switched ") << name << " to " << model << " v" << v
              << (canary ? " at " + std::to_string(static_cast<int64_t>(weight)) + "%" : "") << "\n";
  }
  ctx.Output("deployment", name);
  ctx.Output("model", model);
  ctx.Output("version", v);
  ctx.Output("canary", canary);
  ctx.Output("infer", "/v2/models/" + name + "/infer");
  return Status::Ok();
}

}  // namespace aimass::steps
