// `aimass gw …`: the gateway from the command line: upstreams, routes (with pause, resume and
// degrade), consumers and their keys, discovered services, the response cache, and `apply`,
// which makes the gateway match a declarative YAML or JSON file.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct GwCommands;

std::shared_ptr<GwCommands> AddGwCommands(CLI::App& app);
// Runs the parsed `gw` command; nullopt when none was given.
std::optional<int> RunGwCommands(GwCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
