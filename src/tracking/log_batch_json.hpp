// A logging call's JSON (POST /api/v1/runs/{id}/log) read into a LogBatch: shapes and types
// checked here, keys and limits by Tracking::Log.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "tracking/run.hpp"

namespace aimass::tracking {

// {"metrics":[{"key","value","step","timestamp"}],"params","tags","inputs","outputs"}; any
// other member is bad_request.
Result<LogBatch> ParseLogBatch(const nlohmann::json& body);

// `member` of `body` as {"k": "v", …} or [{"key": "k", "value": "v"}, …], appended to `out`;
// numbers and booleans are written as text (a param is text, as in MLflow).
Status ParseKeyValues(const nlohmann::json& body, const char* member, std::vector<std::pair<std::string, std::string>>& out);

}  // namespace aimass::tracking
