// `aimass assist create|list|show|train|chat|test|rollback`: customer-service bots
// (/api/v1/assist): define one from a file, train it (waiting for the result), talk to it, and
// measure it on labelled messages.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct AssistCommands;

std::shared_ptr<AssistCommands> AddAssistCommands(CLI::App& app);
// Runs the parsed `assist` command; nullopt when none was given.
std::optional<int> RunAssistCommands(AssistCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
