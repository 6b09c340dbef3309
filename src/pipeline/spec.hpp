// A pipeline's spec: named steps with what each uses (a built-in step or a command), its
// inputs (`with`, which may refer to params and to earlier steps' outputs), what it needs
// first, and how it runs (resources, retries with back-off, timeout, a `when` condition,
// `foreach` fan-out, the cache). Read from JSON or YAML; checked whole before anything runs:
// unique names, known steps, `needs` naming steps, no cycle.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::pipeline {

struct StepSpec {
  std::string name;
  std::string uses = "command";        // command | dataset.split | train.torch | …
  nlohmann::json with = nlohmann::json::object();  // the step's inputs (templates allowed)
  std::vector<std::string> command;    // `command` steps: argv (templates allowed)
  std::map<std::string, std::string> env;
  std::vector<std::string> needs;
  bool cache = true;
  int64_t retries = 0;                 // further attempts after a failed one
  double retry_backoff_s = 5;          // before the first retry, doubled after each
  int64_t timeout_s = 3600;            // per attempt
  nlohmann::json resources = nlohmann::json::object();  // as a job's: cpus, memory_mb, gpus
  bool sandbox = true;
  bool network = false;
  std::string executor = "local";      // local | slurm
  std::string when;                    // an expression (expression.hpp); empty: always
  nlohmann::json foreach;              // null, an array, or an expression giving one
};

struct PipelineSpec {
  std::string name;
  std::string description;
  nlohmann::json params = nlohmann::json::object();  // defaults, overridden per run
  std::string schedule;                // cron (scheduler), empty: none
  std::string time_zone = "UTC";
  std::vector<StepSpec> steps;         // in an order where every step comes after its needs
};

// The built-in steps, in the order the docs list them.
const std::vector<std::string>& BuiltinSteps();

// `text` as JSON, or YAML when it is not JSON. Every unknown field is bad_request naming it.
Result<PipelineSpec> ParsePipelineSpec(std::string_view text);
Result<PipelineSpec> PipelineSpecFromJson(const nlohmann::json& j);
nlohmann::json PipelineSpecJson(const PipelineSpec& spec);

}  // namespace aimass::pipeline
