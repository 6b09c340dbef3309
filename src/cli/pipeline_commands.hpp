// `aimass pipeline create|update|list|show|delete|run|runs|status|cancel|resume|logs`:
// pipelines and their runs (/api/v1/pipelines, /api/v1/pipeline-runs).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct PipelineCommands;

std::shared_ptr<PipelineCommands> AddPipelineCommands(CLI::App& app);
// Runs the parsed `pipeline` command; nullopt when none was given.
std::optional<int> RunPipelineCommands(PipelineCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
