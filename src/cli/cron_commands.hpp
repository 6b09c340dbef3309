// `aimass cron …`: scheduled jobs from the command line: add, list, show, runs, run (now),
// pause, resume, delete.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct CronCommands;

std::shared_ptr<CronCommands> AddCronCommands(CLI::App& app);
// Runs the parsed `cron` command; nullopt when none was given.
std::optional<int> RunCronCommands(CronCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
