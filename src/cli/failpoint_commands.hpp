// `aimass failpoint …`: a running server's failpoints (crash and fault tests; the server must
// run with --failpoints-api): list, set NAME ACTION, clear NAME.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct FailpointCommands;

std::shared_ptr<FailpointCommands> AddFailpointCommands(CLI::App& app);
// Runs the parsed `failpoint` command; nullopt when none was given.
std::optional<int> RunFailpointCommands(FailpointCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
