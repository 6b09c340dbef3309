#include "steps/compare.hpp"

#include <cmath>
#include <iostream>

#include "common/metric_goal.hpp"
#include "common/text.hpp"

namespace aimass::steps {

using nlohmann::json;

Status Compare(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(std::string model, InputString(in, "model"));
  AIMASS_ASSIGN_OR_RETURN(std::string metric, InputString(in, "metric"));
  AIMASS_ASSIGN_OR_RETURN(double version, InputNumber(in, "version", 0));
  AIMASS_ASSIGN_OR_RETURN(double min_delta, InputNumber(in, "min_delta", 0));
  const std::string against = InputString(in, "against", "production");
  const std::string goal = InputString(in, "goal", DefaultMetricGoal(metric));
  const bool gate = in.value("gate", false) == true || InputString(in, "gate", "false") == "true";
  if (version < 1) return Status::BadRequest("with.version is the challenger's version number");
  if (goal != "max" && goal != "min") return Status::BadRequest("with.goal is max or min");

  const std::string base = "/api/v1/models/" + PercentEncode(model);
  auto value_of = [&](int64_t v) -> Result<double> {
    AIMASS_ASSIGN_OR_RETURN(json got, ctx.Call(http::Method::kGet, base + "/versions/" + std::to_string(v)));
    const json& m = got["metrics"];
    if (!m.is_object() || !m.contains(metric) || !m[metric].is_number()) {
      return Status::BadRequest(model + " version " + std::to_string(v) + " has no metric '" + metric + "'");
    }
    return m[metric].get<double>();
  };
  AIMASS_ASSIGN_OR_RETURN(double challenger, value_of(static_cast<int64_t>(version)));
  AIMASS_ASSIGN_OR_RETURN(json m, ctx.Call(http::Method::kGet, base));
  json champion = nullptr;
  bool better = true;
  double delta = 0;
  if (m["aliases"].is_object() && m["aliases"].contains(against)) {
    int64_t v = m["aliases"][against].get<int64_t>();
    AIMASS_ASSIGN_OR_RETURN(double value, value_of(v));
    champion = {{"version", v}, {"value", value}};
    delta = goal == "max" ? challenger - value : value - challenger;
    better = delta > min_delta;
    std::cout << metric << ": challenger " << model << " v" << static_cast<int64_t>(version) << " " << challenger
              << " against " << against << " (v" << v << ") " << value << " → " << (better ? "better" : "not better")
              << "\n";
  } else {
    std::cout << model << " has no '" << against << "': the challenger has nothing to beat\n";
  }
  ctx.Output("better", better);
  ctx.Output("challenger", {{"version", static_cast<int64_t>(version)}, {"value", challenger}});
  ctx.Output("champion", champion);
  ctx.Output("delta", delta);
  if (gate && !better) {
    return Status::Conflict("the challenger's " + metric + " does not beat " + against + "'s by more than " +
                                      std::to_string(min_delta));
  }
  return Status::Ok();
}

}  // namespace aimass::steps
