#include "analysis/mining_spec.hpp"

#include <cmath>
#include <algorithm>
#include <set>

namespace aimass::analysis {

using json = nlohmann::json;

namespace {

// One parameter a kind takes: its type, default and range.
struct Param {
  const char* name;
  enum Type { kInt, kNumber, kBool, kString, kColumns, kSupport } type;
  json fallback;  // null: required
  double min = -INFINITY, max = INFINITY;
  std::set<std::string> choices = {};
};

const std::vector<Param>& ParamsOf(const std::string& kind) {
  static const std::vector<Param> rules = {
      {"transaction_column", Param::kString, nullptr},
      {"item_column", Param::kString, nullptr},
      {"label_column", Param::kString, ""},  // a column naming each item (a product's description)
      {"min_support", Param::kSupport, 0.01},
      {"min_confidence", Param::kNumber, 0.5, 0, 1},
      {"min_lift", Param::kNumber, 0.0, 0},
      {"max_length", Param::kInt, 0, 0, 64},
      {"max_itemsets", Param::kInt, 10000, 1, 1'000'000},  // in the result, the most frequent first
      {"max_rules", Param::kInt, 10000, 0, 1'000'000},     // in the result, by lift
  };
  static const std::vector<Param> kmeans = {
      {"k", Param::kInt, 8, 1, 10000},
      {"columns", Param::kColumns, json::array()},  // empty: every numeric column
      {"seed", Param::kInt, 0, 0, 9.0e15},
      {"init", Param::kString, "k-means++", -INFINITY, INFINITY, {"k-means++", "random"}},
      {"n_init", Param::kInt, 1, 1, 100},
      {"max_iter", Param::kInt, 300, 1, 100000},
      {"tol", Param::kNumber, 1e-4, 0},
      {"mini_batch", Param::kBool, false},
      {"batch_size", Param::kInt, 1024, 1, 10'000'000},
      {"standardize", Param::kBool, false},
      {"silhouette_sample", Param::kInt, 5000, 0, 100000},  // 0: no silhouette
      {"projection_sample", Param::kInt, 2000, 0, 100000},  // points in the 2-D scatter
  };
  static const std::vector<Param> dbscan = {
      {"eps", Param::kNumber, nullptr, 0},
      {"min_samples", Param::kInt, 5, 1, 1'000'000},
      {"columns", Param::kColumns, json::array()},
      {"standardize", Param::kBool, false},
      {"seed", Param::kInt, 0, 0, 9.0e15},
      {"silhouette_sample", Param::kInt, 5000, 0, 100000},
      {"projection_sample", Param::kInt, 2000, 0, 100000},
  };
  static const std::vector<Param> sequences = {
      {"sequence_column", Param::kString, nullptr},
      {"item_column", Param::kString, nullptr},
      {"order_column", Param::kString, ""},  // empty: the rows' order
      {"min_support", Param::kSupport, 0.01},
      {"max_length", Param::kInt, 5, 0, 64},
      {"contiguous", Param::kBool, false},
      {"max_patterns", Param::kInt, 10000, 1, 1'000'000},
  };
  static const std::vector<Param> outliers = {
      {"columns", Param::kColumns, json::array()},
      {"trees", Param::kInt, 100, 1, 10000},
      {"max_samples", Param::kInt, 256, 2, 10'000'000},
      {"seed", Param::kInt, 0, 0, 9.0e15},
      {"contamination", Param::kNumber, 0.0, 0, 0.5},  // 0: "auto", a score above 0.5 is an outlier
      {"id_column", Param::kString, ""},
      {"top", Param::kInt, 100, 1, 100000},
  };
  static const std::vector<Param> none;
  if (kind == "association_rules") return rules;
  if (kind == "kmeans") return kmeans;
  if (kind == "dbscan") return dbscan;
  if (kind == "sequences") return sequences;
  if (kind == "outliers") return outliers;
  return none;
}

Status Check(const Param& p, const json& v) {
  const std::string n = p.name;
  switch (p.type) {
    case Param::kInt:
      if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())) {
        return Status::BadRequest("params." + n + " must be a whole number");
      }
      break;
    case Param::kNumber:
    case Param::kSupport:
      if (!v.is_number() || !std::isfinite(v.get<double>())) return Status::BadRequest("params." + n + " must be a number");
      if (p.type == Param::kSupport && !(v.get<double>() > 0 && v.get<double>() <= 1)) {
        return Status::BadRequest("params." + n + " must be in (0, 1]");
      }
      break;
    case Param::kBool:
      if (!v.is_boolean()) return Status::BadRequest("params." + n + " must be true or false");
      return Status::Ok();
    case Param::kString:
      if (!v.is_string() || v.get<std::string>().size() > 256) return Status::BadRequest("params." + n + " must be a string");
      if (!p.choices.empty() && !p.choices.count(v.get<std::string>())) {
        std::string list;
        for (const auto& c : p.choices) list += (list.empty() ? "" : ", ") + c;
        return Status::BadRequest("params." + n + " must be one of " + list);
      }
      return Status::Ok();
    case Param::kColumns:
      if (!v.is_array() || v.size() > 1024) return Status::BadRequest("params." + n + " must be a list of column names");
      for (const auto& c : v) {
        if (!c.is_string() || c.get<std::string>().empty()) return Status::BadRequest("params." + n + " must be a list of column names");
      }
      return Status::Ok();
  }
  const double d = v.get<double>();
  if (d < p.min || d > p.max) {
    auto text = [](double x) {
      std::string s = std::to_string(x);
      while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
        const bool dot = s.back() == '.';
        s.pop_back();
        if (dot) break;
      }
      return s;
    };
    if (std::isinf(p.max)) return Status::BadRequest("params." + n + " must be at least " + text(p.min));
    return Status::BadRequest("params." + n + " must be between " + text(p.min) + " and " + text(p.max));
  }
  return Status::Ok();
}

}  // namespace

bool KnownMiningKind(const std::string& kind) { return !ParamsOf(kind).empty(); }

Result<MiningSpec> ParseMiningSpec(const json& body) {
  if (!body.is_object()) return Status::BadRequest("the body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "kind" && key != "source" && key != "params") return Status::BadRequest("unknown field '" + key + "'");
  }
  MiningSpec s;
  if (!body.contains("kind") || !body["kind"].is_string()) return Status::BadRequest("kind is required");
  s.kind = body["kind"].get<std::string>();
  if (!KnownMiningKind(s.kind)) {
    return Status::BadRequest("kind '" + s.kind + "' is not one of association_rules, kmeans, dbscan, sequences, outliers");
  }
  const json src = body.value("source", json());
  if (!src.is_object() || !src.contains("dataset") || !src["dataset"].is_string() || src["dataset"].get<std::string>().empty()) {
    return Status::BadRequest("source.dataset is required");
  }
  s.dataset = src["dataset"].get<std::string>();
  if (src.contains("version")) {
    const json& v = src["version"];
    if (v.is_number_integer() && v.get<int64_t>() > 0) {
      s.version = std::to_string(v.get<int64_t>());
    } else if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().size() <= 128) {
      s.version = v.get<std::string>();
    } else {
      return Status::BadRequest("source.version must be a version number, an alias or latest");
    }
  }
  const json given = body.value("params", json::object());
  if (!given.is_object()) return Status::BadRequest("params must be an object");
  const auto& params = ParamsOf(s.kind);
  for (const auto& item : given.items()) {
    const std::string key = item.key();
    const bool known = std::any_of(params.begin(), params.end(), [&](const Param& p) { return key == p.name; });
    if (!known) return Status::BadRequest("params." + key + " is not a parameter of " + s.kind);
  }
  for (const Param& p : params) {
    if (given.contains(p.name) && !given[p.name].is_null()) {
      AIMASS_RETURN_IF_ERROR(Check(p, given[p.name]));
      s.params[p.name] = p.type == Param::kInt ? json(given[p.name].get<int64_t>()) : given[p.name];
    } else if (p.fallback.is_null()) {
      return Status::BadRequest("params." + std::string(p.name) + " is required for " + s.kind);
    } else {
      s.params[p.name] = p.fallback;
    }
  }
  if (s.kind == "dbscan" && !(s.params["eps"].get<double>() > 0)) return Status::BadRequest("params.eps must be more than 0");
  return s;
}

json MiningSpecJson(const MiningSpec& s) {
  return {{"kind", s.kind}, {"source", {{"dataset", s.dataset}, {"version", s.version}}}, {"params", s.params}};
}

}  // namespace aimass::analysis
