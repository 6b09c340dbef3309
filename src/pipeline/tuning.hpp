// The `tune` step: a search over another built-in step's inputs, run by the orchestrator as
// fan-out (each trial a row and a job of its own, as a foreach item is). Grid search, random
// search, and successive halving (Jamieson and Talwalkar, 2016: every round gives the best
// 1/eta of the trials eta times the budget). This file is the search itself, free of jobs and
// stores: which trials to run, the next round from the scores so far, and the best trial.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::pipeline {

struct TuneSpec {
  std::string uses;                  // the built-in step tried
  nlohmann::json with = nlohmann::json::object();  // its inputs, every trial's base
  std::string method = "grid";       // grid | random | halving
  nlohmann::json space;              // input → [choices] or {"min","max","log","integer"}
  int64_t trials = 10;               // random and halving: how many configurations to start with
  uint64_t seed = 42;
  std::string metric;                // a path into a trial's outputs: "metrics.accuracy"
  bool maximize = true;
  // halving: the input that is the budget (epochs, num_round), from min to max, times eta a round.
  std::string budget;
  double budget_min = 1, budget_max = 1, eta = 3;
};

// From a tune step's `with`: {uses, with, method, space, trials, seed, metric, goal,
// budget: {input, min, max, eta}}; bad_request naming what is wrong.
Result<TuneSpec> ParseTuneSpec(const nlohmann::json& with);

// One trial as the orchestrator keeps it (its row's item and what became of it).
struct Trial {
  nlohmann::json params;             // the inputs it sets (the budget's included)
  int64_t round = 0;
  bool succeeded = false;
  std::optional<double> score;       // the metric from its outputs, when it has one
};

// The first round's trials' params.
std::vector<nlohmann::json> FirstRound(const TuneSpec& spec);

// The next round's params from every trial so far (halving), or none: the search is over.
std::vector<nlohmann::json> NextRound(const TuneSpec& spec, const std::vector<Trial>& trials);

// The best scored trial of the last round that has one; none when no trial has a score.
std::optional<size_t> BestTrial(const TuneSpec& spec, const std::vector<Trial>& trials);

// The number at `path` ("metrics.accuracy") in a trial's outputs.
std::optional<double> ScoreAt(const nlohmann::json& outputs, const std::string& path);

}  // namespace aimass::pipeline
