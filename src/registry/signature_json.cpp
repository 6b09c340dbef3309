#include "registry/signature_json.hpp"

namespace aimass::registry {

namespace {

nlohmann::json SpecsJson(const std::vector<TensorSpec>& specs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& s : specs) {
    nlohmann::json t = {{"name", s.name}};
    if (!s.datatype.empty()) t["datatype"] = s.datatype;
    if (!s.shape.empty()) t["shape"] = s.shape;
    a.push_back(t);
  }
  return a;
}

std::vector<TensorSpec> SpecsFrom(const nlohmann::json& a) {
  std::vector<TensorSpec> out;
  if (!a.is_array()) return out;
  for (const auto& t : a) {
    if (!t.is_object()) continue;
    TensorSpec s;
    s.name = t.value("name", "");
    s.datatype = t.value("datatype", "");
    if (t.contains("shape") && t["shape"].is_array()) {
      for (const auto& d : t["shape"]) {
        if (d.is_number_integer()) s.shape.push_back(d.get<int64_t>());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

nlohmann::json SignatureToJson(const Signature& s) {
  return {{"inputs", SpecsJson(s.inputs)}, {"outputs", SpecsJson(s.outputs)}};
}

Signature SignatureFromJson(const nlohmann::json& j) {
  Signature s;
  if (!j.is_object()) return s;
  if (j.contains("inputs")) s.inputs = SpecsFrom(j["inputs"]);
  if (j.contains("outputs")) s.outputs = SpecsFrom(j["outputs"]);
  return s;
}

}  // namespace aimass::registry
