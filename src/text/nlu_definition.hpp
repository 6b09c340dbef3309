// The understanding part of a bot's definition (JSON), read into what the NLU trainer takes:
// `language`, `intents` [{name, examples: ["… [Tuesday](day) …"]}], `entities` [{name, lookup |
// regex}] (an entity with neither is learned from the marked examples), `fallback.threshold`
// (a number, or "auto"), `fallback.max_false_fallbacks`, and `training` {kinds, folds, holdout, c,
// fasttext_epochs, seed}. The assist module checks definitions with it when they are stored;
// the train.assist step reads them with it, so both agree on what a definition means.
#pragma once

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "text/nlu_trainer.hpp"

namespace aimass::text {

Result<std::pair<NluTrainSpec, std::vector<NluExample>>> ReadNluDefinition(const nlohmann::json& definition);

}  // namespace aimass::text
