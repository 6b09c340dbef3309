// Which end of a metric is best when nobody says: lower for losses and errors, higher for the
// rest. Run comparison (tracking) and the `compare` pipeline step share the one rule.
#pragma once

#include <string_view>

namespace aimass {

// "min" when the name holds loss, error, rmse, mae, mse or perplexity (any case), else "max".
const char* DefaultMetricGoal(std::string_view key);

}  // namespace aimass
