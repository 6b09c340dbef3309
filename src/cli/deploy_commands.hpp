// `aimass deploy …`: serving deployments from the command line (create, list, show, update,
// delete).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct DeployCommands;

// Adds the `deploy` subcommand tree to `app`; the returned object holds the parsed options.
std::shared_ptr<DeployCommands> AddDeployCommands(CLI::App& app);
// Runs the parsed `deploy` command; nullopt when none was given.
std::optional<int> RunDeployCommands(DeployCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
