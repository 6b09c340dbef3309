// `aimass job run|list|show|logs|cancel` and `aimass node list|show|drain|undrain`: the
// cluster's jobs and nodes (/api/v1/jobs, /api/v1/cluster/nodes).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct JobCommands;

std::shared_ptr<JobCommands> AddJobCommands(CLI::App& app);
// Runs the parsed `job` or `node` command; nullopt when none was given.
std::optional<int> RunJobCommands(JobCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
