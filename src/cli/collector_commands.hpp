// `aimass collector create|list|show|pause|resume|delete|rejected|push`: collectors that fill
// datasets (/api/v1/collectors, /api/v1/collect).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct CollectorCommands;

std::shared_ptr<CollectorCommands> AddCollectorCommands(CLI::App& app);
// Runs the parsed `collector` command; nullopt when none was given.
std::optional<int> RunCollectorCommands(CollectorCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
