// Trains an NLU model from a bot's examples: stratified k-fold cross-validation (or one holdout
// split) gives every example scores from classifiers that did not see it; on those, each kind's
// temperature and out-of-scope threshold are fitted and its accuracy measured (and a mix of the
// linear and fastText kinds tried); the best is kept and trained again on all examples, the
// entity tagger on the marked ones. The held-out evaluation (per kind, per intent, the most
// confused pairs, entities) goes into the model's header.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "text/annotated_text.hpp"

namespace aimass::text {

struct NluExample {
  std::string text;  // plain (marks parsed out)
  int intent = 0;    // index into NluTrainSpec::intents
  std::vector<EntitySpan> spans;
};

struct NluTrainSpec {
  std::string language = "en";
  std::vector<std::string> intents;  // may include kOutOfScope
  nlohmann::json entities = nlohmann::json::array();  // the bot's entity definitions (rules)
  std::vector<std::string> kinds = {"linear", "fasttext"};
  int folds = 5;                     // cross-validation folds for choosing and calibrating (1: a holdout split)
  double holdout = 0.15;             // with one fold: the share of each intent's examples held out
  // Threshold: fixed, or (absent) the highest that turns at most `max_false_fallbacks` of the
  // held-out messages the classifier got right into fallbacks. 0.001 was picked on CLINC150's
  // validation part (trained on its training part): the most in-scope accuracy with an
  // out-of-scope recall of 50% or more.
  std::optional<double> threshold;
  double max_false_fallbacks = 0.001;
  double c = 1.0;                    // the linear kind's regularisation
  int fasttext_epochs = 25;          // at least; small bots get more (nlu_trainer.cpp)
  uint32_t seed = 1;
  std::string work_dir = ".";        // fastText's temporary files
  nlohmann::json extra = nlohmann::json::object();  // copied into the header (the bot, its version)
};

struct NluTrainResult {
  std::string model;           // the .nlu file
  nlohmann::json evaluation;   // also in the model's header
};

Result<NluTrainResult> TrainNlu(const NluTrainSpec& spec, const std::vector<NluExample>& examples,
                                const std::function<void(const std::string&)>& log);

}  // namespace aimass::text
