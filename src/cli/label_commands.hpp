// `aimass label projects|create|show|next|annotate|accept|agreement|export|delete`: labelling
// projects (/api/v1/labelling) from the command line, including labelling in a terminal.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct LabelCommands;

std::shared_ptr<LabelCommands> AddLabelCommands(CLI::App& app);
// Runs the parsed `label` command; nullopt when none was given.
std::optional<int> RunLabelCommands(LabelCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
