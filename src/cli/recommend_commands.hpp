// `aimass recommend create|list|show|items|feedback|train|for|similar|next|evaluate|experiment`:
// recommender apps (/api/v1/recommend): define one, load its catalogue and feedback from files,
// train it and ask it, evaluate every algorithm offline, run A/B experiments.
#pragma once

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace aimass::cli {

class ApiClient;
struct RecommendCommands;

std::shared_ptr<RecommendCommands> AddRecommendCommands(CLI::App& app);
// Runs the parsed `recommend` command; nullopt when none was given.
std::optional<int> RunRecommendCommands(RecommendCommands& cmd, ApiClient& api, bool json);

}  // namespace aimass::cli
