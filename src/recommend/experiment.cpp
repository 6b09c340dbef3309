#include "recommend/experiment.hpp"

#include <cmath>
#include <set>

#include "common/fnv1a.hpp"
#include "common/name.hpp"
#include "recsys/recommender.hpp"

namespace aimass::recommend {

using nlohmann::json;

Result<json> ParseExperiment(const json& body) {
  if (!body.is_object()) return Status::InvalidJson("the body is a JSON object");
  if (!body.contains("name") || !body["name"].is_string()) return Status::BadRequest("name is required");
  AIMASS_RETURN_IF_ERROR(ValidateName("experiment", body["name"].get<std::string>(), 64));
  const json& variants = body.contains("variants") ? body["variants"] : json();
  if (!variants.is_array() || variants.size() < 2 || variants.size() > 8) {
    return Status::BadRequest("variants is a list of 2 to 8 {name, algorithm, weight}; the first is the control");
  }
  json out = {{"name", body["name"]}, {"variants", json::array()}, {"window_hours", 24}};
  std::set<std::string> names;
  for (const auto& v : variants) {
    if (!v.is_object() || !v.contains("name") || !v["name"].is_string()) return Status::BadRequest("each variant has a name");
    AIMASS_RETURN_IF_ERROR(ValidateName("variant", v["name"].get<std::string>(), 64));
    if (!names.insert(v["name"].get<std::string>()).second) return Status::BadRequest("variant names are distinct");
    if (!v.contains("algorithm") || !v["algorithm"].is_string() || !recsys::SourceNamed(v["algorithm"].get<std::string>())) {
      return Status::BadRequest("variant " + v["name"].get<std::string>() +
                                ": algorithm is one of popular, recent, history, item_knn, als, bpr, session, ranker");
    }
    double weight = 1;
    if (v.contains("weight")) {
      if (!v["weight"].is_number() || !(v["weight"].get<double>() > 0) || v["weight"].get<double>() > 1e6) {
        return Status::BadRequest("variant " + v["name"].get<std::string>() + ": weight is a number above 0");
      }
      weight = v["weight"].get<double>();
    }
    out["variants"].push_back({{"name", v["name"]}, {"algorithm", v["algorithm"]}, {"weight", weight}});
  }
  if (body.contains("window_hours")) {
    if (!body["window_hours"].is_number() || body["window_hours"].get<double>() <= 0 || body["window_hours"].get<double>() > 24 * 90) {
      return Status::BadRequest("window_hours is how long after a recommendation feedback counts for it: above 0, at most 2160");
    }
    out["window_hours"] = body["window_hours"];
  }
  return out;
}

std::optional<json> AssignVariant(const json& experiment, const std::string& user) {
  const json& variants = experiment["variants"];
  double total = 0;
  for (const auto& v : variants) total += v["weight"].get<double>();
  if (total <= 0) return std::nullopt;
  // A seeded hash per experiment, so that users fall independently in different experiments.
  const uint64_t h = Fnv1a(user, Fnv1a(experiment["name"].get<std::string>()));
  double at = static_cast<double>(h % 1000003) / 1000003.0 * total;
  for (const auto& v : variants) {
    at -= v["weight"].get<double>();
    if (at < 0) return v;
  }
  return variants.back();
}

ProportionTest CompareProportions(uint64_t sa, uint64_t na, uint64_t sb, uint64_t nb) {
  ProportionTest t;
  if (na == 0 || nb == 0) return t;
  const double pa = static_cast<double>(sa) / na, pb = static_cast<double>(sb) / nb;
  const double pooled = static_cast<double>(sa + sb) / (na + nb);
  const double se = std::sqrt(pooled * (1 - pooled) * (1.0 / na + 1.0 / nb));
  if (se <= 0) return t;
  t.z = (pb - pa) / se;
  t.p_value = std::erfc(std::fabs(t.z) / std::sqrt(2.0));
  return t;
}

}  // namespace aimass::recommend
