// A/B experiments: users split into variants by a stable hash, and each variant's click-through
// and conversion measured from the feedback that follows what it showed, with a two-proportion
// z-test against the first variant (the control).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::recommend {

// {"name","variants":[{"name","algorithm","weight"}…] (2 to 8),"window_hours"} checked and completed.
Result<nlohmann::json> ParseExperiment(const nlohmann::json& body);

// The variant a user falls in: the same for the same experiment and user, in every process.
std::optional<nlohmann::json> AssignVariant(const nlohmann::json& experiment, const std::string& user);

// Two-sided p-value of the difference between two proportions (pooled z-test), and z.
struct ProportionTest {
  double z = 0;
  double p_value = 1;
};
ProportionTest CompareProportions(uint64_t successes_a, uint64_t trials_a, uint64_t successes_b, uint64_t trials_b);

}  // namespace aimass::recommend
