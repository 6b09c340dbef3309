// `aimass behavior …`: product analytics projects (/api/v1/behavior): create them, capture
// events from a file, import a dataset version, run insights, look at persons and cohorts.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct BehaviorCommands;

std::shared_ptr<BehaviorCommands> AddBehaviorCommands(CLI::App& app);
// Runs the parsed `behavior` command; nullopt when none was given.
std::optional<int> RunBehaviorCommands(BehaviorCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
