#include "config/yaml_json.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <string>

namespace aimass::config {

namespace {

constexpr int kMaxDepth = 64;

nlohmann::json Scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  int64_t i = 0;
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i); ec == std::errc() && p == s.data() + s.size()) {
    return i;
  }
  double d = 0;
  if (auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      ec == std::errc() && p == s.data() + s.size() && std::isfinite(d)) {
    return d;
  }
  return s;
}

Result<nlohmann::json> ToJson(const YAML::Node& n, int depth) {
  if (depth > kMaxDepth) return Status::BadRequest("YAML nested deeper than 64 levels");
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) return Status::BadRequest("YAML map keys must be plain text");
      AIMASS_ASSIGN_OR_RETURN(o[kv.first.Scalar()], ToJson(kv.second, depth + 1));
    }
    return o;
  }
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : n) {
      AIMASS_ASSIGN_OR_RETURN(nlohmann::json v, ToJson(e, depth + 1));
      a.push_back(std::move(v));
    }
    return a;
  }
  if (n.IsScalar()) return Scalar(n);
  return nlohmann::json(nullptr);
}

}  // namespace

Result<nlohmann::json> ParseYaml(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return ToJson(root, 0);
  } catch (const YAML::Exception& e) {
    return Status::BadRequest("YAML, line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace aimass::config
