// `aimass mq …`: the message queue from the command line: topics, publishing one message,
// subscriptions (pull, ack, nack, seek) and their dead-letter queues.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct MqCommands;

std::shared_ptr<MqCommands> AddMqCommands(CLI::App& app);
// Runs the parsed `mq` command; nullopt when none was given.
std::optional<int> RunMqCommands(MqCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
