// An app's configuration: the feedback types and their weights, what it serves by default, and
// how it trains. Parsed from the JSON of POST/PUT /api/v1/recommend/apps.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::recommend {

struct AppConfig {
  std::string name;
  std::string description;
  std::map<std::string, double> feedback_types;  // type → weight
  bool exclude_consumed = true;
  std::string algorithm = "ranker";  // what recommendations use unless asked or in an experiment
  int max_per_category = 0;          // diversity: at most this many per category (0: no limit)
  std::vector<std::string> click_types;       // A/B click-through: the lighter types by default
  std::vector<std::string> conversion_types;  // A/B conversion: the heaviest type by default
  nlohmann::json training = nlohmann::json::object();  // the train.recommend step's options
  std::string feedback_topic;  // a message-queue topic whose messages are feedback (empty: none)

  nlohmann::json Json() const;
};

// Checks and completes a configuration (400 with the field at fault).
Result<AppConfig> ParseAppConfig(const nlohmann::json& body);

}  // namespace aimass::recommend
