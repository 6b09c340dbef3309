#include "pipeline/tuning.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/metric_goal.hpp"
#include "pipeline/spec.hpp"

namespace aimass::pipeline {

using nlohmann::json;

namespace {

constexpr size_t kMaxTrials = 1000;

Status Bad(const std::string& what) { return Status::BadRequest("tune: " + what); }

// A value from a range {"min","max","log","integer"}.
json Sample(const json& range, std::mt19937_64& rng) {
  double lo = range["min"].get<double>(), hi = range["max"].get<double>();
  bool log = range.value("log", false);
  std::uniform_real_distribution<double> u(0, 1);
  double x = log ? std::exp(std::log(lo) + u(rng) * (std::log(hi) - std::log(lo))) : lo + u(rng) * (hi - lo);
  if (range.value("integer", false)) return static_cast<int64_t>(std::llround(x));
  return x;
}

std::vector<json> Grid(const json& space) {
  std::vector<json> out = {json::object()};
  for (auto it = space.begin(); it != space.end(); ++it) {
    std::vector<json> next;
    for (const auto& partial : out) {
      for (const auto& choice : it.value()) {
        json p = partial;
        p[it.key()] = choice;
        next.push_back(std::move(p));
      }
    }
    out = std::move(next);
  }
  return out;
}

std::vector<json> Random(const TuneSpec& s) {
  std::mt19937_64 rng(s.seed);
  std::vector<json> out;
  for (int64_t i = 0; i < s.trials; ++i) {
    json p = json::object();
    for (auto it = s.space.begin(); it != s.space.end(); ++it) {
      if (it.value().is_array()) {
        std::uniform_int_distribution<size_t> pick(0, it.value().size() - 1);
        p[it.key()] = it.value()[pick(rng)];
      } else {
        p[it.key()] = Sample(it.value(), rng);
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

json BudgetValue(const TuneSpec& s, double b) {
  double v = std::min(b, s.budget_max);
  if (v == std::floor(v)) return static_cast<int64_t>(v);
  return v;
}

}  // namespace

Result<TuneSpec> ParseTuneSpec(const json& with) {
  if (!with.is_object()) return Bad("'with' is an object");
  for (auto it = with.begin(); it != with.end(); ++it) {
    static const std::vector<std::string> kKeys = {"uses", "with", "method", "space", "trials", "seed", "metric", "goal", "budget"};
    if (std::find(kKeys.begin(), kKeys.end(), it.key()) == kKeys.end()) return Bad("unknown field '" + it.key() + "'");
  }
  TuneSpec s;
  if (!with.contains("uses") || !with["uses"].is_string()) return Bad("'uses' names the built-in step to tune");
  s.uses = with["uses"].get<std::string>();
  const auto& builtins = BuiltinSteps();
  if (s.uses == "command" || s.uses == "tune" || std::find(builtins.begin(), builtins.end(), s.uses) == builtins.end()) {
    return Bad("'uses' is a built-in step other than command and tune, not '" + s.uses + "'");
  }
  if (with.contains("with")) {
    if (!with["with"].is_object()) return Bad("'with' of the tuned step is an object");
    s.with = with["with"];
  }
  s.method = with.value("method", "grid");
  if (s.method != "grid" && s.method != "random" && s.method != "halving") return Bad("'method' is grid, random or halving");
  if (!with.contains("space") || !with["space"].is_object() || with["space"].empty()) {
    return Bad("'space' maps each tuned input to its choices [..] or a range {min, max, log, integer}");
  }
  s.space = with["space"];
  for (auto it = s.space.begin(); it != s.space.end(); ++it) {
    const json& v = it.value();
    if (v.is_array()) {
      if (v.empty() || v.size() > kMaxTrials) return Bad("'" + it.key() + "' has 1 to 1000 choices");
      continue;
    }
    if (s.method == "grid") return Bad("grid search takes lists of choices; '" + it.key() + "' is not one");
    if (!v.is_object() || !v.contains("min") || !v.contains("max") || !v["min"].is_number() || !v["max"].is_number() ||
        v["min"].get<double>() > v["max"].get<double>()) {
      return Bad("'" + it.key() + "' is a list of choices or {min, max} with min <= max");
    }
    if (v.value("log", false) && v["min"].get<double>() <= 0) return Bad("a log range of '" + it.key() + "' starts above 0");
  }
  if (with.contains("trials")) {
    if (!with["trials"].is_number_integer() || with["trials"].get<int64_t>() < 1 ||
        with["trials"].get<int64_t>() > static_cast<int64_t>(kMaxTrials)) {
      return Bad("'trials' is 1 to 1000");
    }
    s.trials = with["trials"].get<int64_t>();
  }
  if (with.contains("seed")) {
    if (!with["seed"].is_number_integer()) return Bad("'seed' is a whole number");
    s.seed = with["seed"].get<uint64_t>();
  }
  if (!with.contains("metric") || !with["metric"].is_string() || with["metric"].get<std::string>().empty()) {
    return Bad("'metric' is the path of the score in a trial's outputs, such as metrics.accuracy");
  }
  s.metric = with["metric"].get<std::string>();
  std::string last = s.metric.substr(s.metric.rfind('.') + 1);
  std::string goal = with.value("goal", std::string(DefaultMetricGoal(last)));
  if (goal != "max" && goal != "min") return Bad("'goal' is max or min");
  s.maximize = goal == "max";
  if (s.method == "halving") {
    const json& b = with.value("budget", json());
    if (!b.is_object() || !b.contains("input") || !b["input"].is_string() || !b.contains("max") || !b["max"].is_number()) {
      return Bad("halving needs 'budget': {input (such as epochs), min, max, eta}");
    }
    s.budget = b["input"].get<std::string>();
    s.budget_min = b.value("min", 1.0);
    s.budget_max = b["max"].get<double>();
    s.eta = b.value("eta", 3.0);
    if (!(s.budget_min > 0) || s.budget_max < s.budget_min || !(s.eta >= 2)) {
      return Bad("the budget runs from min > 0 to max >= min, eta >= 2");
    }
    if (s.space.contains(s.budget)) return Bad("the budget input '" + s.budget + "' is not also in the space");
  } else if (with.contains("budget")) {
    return Bad("'budget' is for halving");
  }
  std::vector<json> first = FirstRound(s);
  if (first.empty() || first.size() > kMaxTrials) return Bad("the search has " + std::to_string(first.size()) + " trials; 1 to 1000");
  return s;
}

std::vector<json> FirstRound(const TuneSpec& s) {
  if (s.method == "grid") {
    size_t n = 1;
    for (const auto& v : s.space) {
      n *= v.size();
      if (n > kMaxTrials) return std::vector<json>(kMaxTrials + 1);
    }
    return Grid(s.space);
  }
  std::vector<json> out = Random(s);
  if (s.method == "halving") {
    for (auto& p : out) p[s.budget] = BudgetValue(s, s.budget_min);
  }
  return out;
}

std::vector<json> NextRound(const TuneSpec& s, const std::vector<Trial>& trials) {
  if (s.method != "halving" || trials.empty()) return {};
  int64_t round = 0;
  for (const auto& t : trials) round = std::max(round, t.round);
  double budget = s.budget_min * std::pow(s.eta, static_cast<double>(round));
  if (budget >= s.budget_max) return {};
  std::vector<const Trial*> last;
  size_t in_round = 0;
  for (const auto& t : trials) {
    if (t.round != round) continue;
    ++in_round;
    if (t.succeeded && t.score) last.push_back(&t);
  }
  size_t keep = static_cast<size_t>(std::ceil(static_cast<double>(in_round) / s.eta));
  if (keep <= 1 && in_round <= 1) return {};
  std::stable_sort(last.begin(), last.end(), [&](const Trial* a, const Trial* b) {
    return s.maximize ? *a->score > *b->score : *a->score < *b->score;
  });
  last.resize(std::min(last.size(), std::max<size_t>(1, keep)));
  std::vector<json> out;
  for (const Trial* t : last) {
    json p = t->params;
    p[s.budget] = BudgetValue(s, budget * s.eta);
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<size_t> BestTrial(const TuneSpec& s, const std::vector<Trial>& trials) {
  std::optional<size_t> best;
  for (size_t i = 0; i < trials.size(); ++i) {
    const Trial& t = trials[i];
    if (!t.succeeded || !t.score) continue;
    if (!best) {
      best = i;
      continue;
    }
    const Trial& b = trials[*best];
    // A later round trained longer: its score is the one that counts.
    bool better = t.round > b.round || (t.round == b.round && (s.maximize ? *t.score > *b.score : *t.score < *b.score));
    if (better) best = i;
  }
  return best;
}

std::optional<double> ScoreAt(const json& outputs, const std::string& path) {
  const json* at = &outputs;
  size_t from = 0;
  while (from <= path.size()) {
    size_t dot = path.find('.', from);
    std::string key = path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    if (!at->is_object() || !at->contains(key)) return std::nullopt;
    at = &(*at)[key];
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  if (!at->is_number()) return std::nullopt;
  return at->get<double>();
}

}  // namespace aimass::pipeline
