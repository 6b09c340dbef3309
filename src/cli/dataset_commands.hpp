// `aimass dataset create|push|pull|list|show|versions|profile|drift|alias|expect|validation`:
// table datasets and their versions (/api/v1/datasets).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct DatasetCommands;

std::shared_ptr<DatasetCommands> AddDatasetCommands(CLI::App& app);
// Runs the parsed `dataset` command; nullopt when none was given.
std::optional<int> RunDatasetCommands(DatasetCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
