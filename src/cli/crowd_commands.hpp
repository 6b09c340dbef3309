// `aimass crowd …`: crowd-flow streams (/api/v1/crowd): start them, draw their lines and zones,
// read counts, tracks and alerts, save heatmaps and frames; and `crowd worker`, what a
// stream's cluster job runs.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct CrowdCommands;

std::shared_ptr<CrowdCommands> AddCrowdCommands(CLI::App& app);
// `crowd worker`, which needs no login (its job's environment has the server and a token).
std::optional<int> RunCrowdWorker(CrowdCommands& cmd);
// Runs the parsed `crowd` command; nullopt when none was given.
std::optional<int> RunCrowdCommands(CrowdCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
