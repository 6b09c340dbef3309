// `aimass llm models|chat|complete`: the language-model deployments through the
// OpenAI-compatible API (/v1/models, /v1/chat/completions, /v1/completions).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct LlmCommands;

std::shared_ptr<LlmCommands> AddLlmCommands(CLI::App& app);
// Runs the parsed `llm` command; nullopt when none was given.
std::optional<int> RunLlmCommands(LlmCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
