// `aimass model …`: the registry from the command line (create, push, list, show, versions,
// search, pull, alias, delete).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct ModelCommands;

// Adds the `model` subcommand tree to `app`; the returned object holds the parsed options.
std::shared_ptr<ModelCommands> AddModelCommands(CLI::App& app);
// Runs the parsed `model` command; nullopt when none was given.
std::optional<int> RunModelCommands(ModelCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
