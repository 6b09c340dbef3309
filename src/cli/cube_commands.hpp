// `aimass cube create|list|show|delete|refresh|query|sql|anomalies|explain|views`: cubes over
// datasets (/api/v1/cubes): define one from a JSON file, query it with flags or SQL, and find
// what changed.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct CubeCommands;

std::shared_ptr<CubeCommands> AddCubeCommands(CLI::App& app);
// Runs the parsed `cube` command; nullopt when none was given.
std::optional<int> RunCubeCommands(CubeCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
