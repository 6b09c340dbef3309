// `aimass analysis mine|jobs|show|cancel|delete`: mining jobs on dataset versions
// (/api/v1/analysis/mining): start one and wait for its result, list, show, cancel, delete.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct AnalysisCommands;

std::shared_ptr<AnalysisCommands> AddAnalysisCommands(CLI::App& app);
// Runs the parsed `analysis` command; nullopt when none was given.
std::optional<int> RunAnalysisCommands(AnalysisCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
