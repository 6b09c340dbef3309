// `aimass usage series|top|quota|alerts|alert|unalert|alert-events`: how the platform's
// applications use it (/api/v1/usage).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct UsageCommands;

std::shared_ptr<UsageCommands> AddUsageCommands(CLI::App& app);
// Runs the parsed `usage` command; nullopt when none was given.
std::optional<int> RunUsageCommands(UsageCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
