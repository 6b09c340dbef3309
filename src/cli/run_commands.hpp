// `aimass experiment create|list|show|delete` and `aimass run
// start|log|end|list|show|compare|history|upload|download|artifacts|delete`: experiment
// tracking (/api/v1/experiments, /api/v1/runs).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct RunCommands;

std::shared_ptr<RunCommands> AddRunCommands(CLI::App& app);
// Runs the parsed `experiment` or `run` command; nullopt when none was given.
std::optional<int> RunRunCommands(RunCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
