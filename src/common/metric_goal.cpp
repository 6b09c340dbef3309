#include "common/metric_goal.hpp"

#include <cctype>
#include <string>

namespace aimass {

const char* DefaultMetricGoal(std::string_view key) {
  std::string k;
  for (char c : key) k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char* lower_is_better : {"loss", "error", "rmse", "mae", "mse", "perplexity"}) {
    if (k.find(lower_is_better) != std::string::npos) return "min";
  }
  return "max";
}

}  // namespace aimass
