// A deployment as users write it (DeploymentSpec) and as it stands (DeploymentView), with their
// JSON forms for the API and the store. Plain data; the behaviour is in serving.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"
#include "serving/version_runner.hpp"

namespace aimass::serving {

// Promote a candidate step by step, or roll it back, by comparing it with the stable version.
struct AutoPolicy {
  std::vector<int> steps = {10, 25, 50, 100};  // candidate weight, % (the last is 100)
  int64_t window_s = 30;
  int64_t min_requests = 50;
  double max_error_rate_delta = 0.01;
  double max_p99_ratio = 1.5;
};

struct TrafficSpec {
  std::optional<int64_t> candidate;  // registry version under test
  int weight = 0;                    // % of requests routed to the candidate
  int shadow_percent = 0;            // % of requests mirrored to it, answers discarded
  std::optional<AutoPolicy> autopilot;
};

// Elastic instances: between min and max, added while requests wait longer than the target
// (queue time, or requests in flight per instance), removed once they stay well below it.
struct AutoscaleSpec {
  int min_instances = 1;
  int max_instances = 4;
  double target_queue_ms = 0;       // one of the two targets
  double target_in_flight = 0;      // per instance
  int64_t cooldown_s = 15;          // after any change, no other for this long
  int64_t scale_down_after_s = 60;  // how long it must stay well below before an instance goes
};

struct DeploymentSpec {
  std::string name;
  std::string model;
  std::optional<int64_t> version;    // exactly one of version and alias
  std::optional<std::string> alias;
  RunnerOptions runner;
  int64_t timeout_ms = 30000;
  TrafficSpec traffic;
  std::optional<AutoscaleSpec> autoscale;
  std::string created_by;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// One recorded step of the traffic policy: set, step, promoted, rolled_back, alias_moved.
struct TrafficEvent {
  int64_t at_ms = 0;
  std::string action;
  std::optional<int64_t> from_version;
  std::optional<int64_t> to_version;
  int weight = 0;
  std::string detail;
};

struct ServedVersion {
  int64_t version = 0;
  std::string role;  // stable | candidate
  int weight = 0;
};

// What the autoscaler did last, shown with the deployment.
struct AutoscaleState {
  int instances = 0;
  std::string last_action;  // scaled_up | scaled_down | held
  std::string last_reason;
  int64_t last_change_ms = 0;
};

struct DeploymentView {
  DeploymentSpec spec;
  std::optional<AutoscaleState> autoscale;
  std::string state;   // loading | ready | failed | unloaded
  std::string reason;  // why failed
  std::vector<ServedVersion> serving;
  std::vector<TrafficEvent> history;
};

// Parses a create (`partial` false) or PATCH (`partial` true, onto `into`) body. Unknown fields
// and out-of-range values are bad_request.
Status ParseDeploymentSpec(const nlohmann::json& body, bool partial, DeploymentSpec& into);
nlohmann::json SpecToJson(const DeploymentSpec& spec);
nlohmann::json ViewToJson(const DeploymentView& view);
nlohmann::json EventToJson(const TrafficEvent& e);

}  // namespace aimass::serving
