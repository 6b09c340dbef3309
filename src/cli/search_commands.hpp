// `aimass search create|list|show|delete|add|remove|query|evaluate|sync`: search indexes and
// their documents (/api/v1/search).
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct SearchCommands;

std::shared_ptr<SearchCommands> AddSearchCommands(CLI::App& app);
// Runs the parsed `search` command; nullopt when none was given.
std::optional<int> RunSearchCommands(SearchCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
