// An NLU model (framework `nlu`, a `.nlu` file): what a bot understands of a message. It
// classifies the intent with the classifier its trainer kept (a linear SVM over TF-IDF word and
// character n-grams, fastText, or a weighted mix of both), turns the classifier's scores into probabilities (a softmax
// whose temperature was fitted on held-out examples), answers `out_of_scope` when the best
// probability is under the calibrated threshold or the out-of-scope class wins, and finds
// entities by lookup list, regular expression and the learned tagger.
//
// File layout: "AIMASS-NLU\n", a format number, the header (JSON: language, intents, kind,
// scale, threshold, entity rules, evaluation), then the binary sections of the parts.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "text/annotated_text.hpp"
#include "text/entity_rules.hpp"
#include "text/entity_tagger.hpp"
#include "text/fasttext_classifier.hpp"
#include "text/linear_model.hpp"
#include "text/text_features.hpp"

namespace aimass::text {

class ChineseSegmenter;

// The name of the out-of-scope intent, as an example's intent and as an answer (Rasa's).
inline constexpr std::string_view kOutOfScope = "out_of_scope";

// Where jieba's dictionary lies on Debian (python3-jieba): what `zh` models segment with.
inline constexpr std::string_view kDefaultZhDictionary = "/usr/lib/python3/dist-packages/jieba/dict.txt";

struct IntentScore {
  std::string intent;
  double confidence = 0;
};

struct NluPrediction {
  std::string intent;         // kOutOfScope when nothing fits
  double confidence = 0;      // the best intent's probability (also when it fell under the threshold)
  std::vector<IntentScore> ranking;  // the best few, most probable first
  std::vector<float> probabilities;  // every intent's, in the model's intent order
  std::vector<EntitySpan> entities;
};

class NluModel {
 public:
  // The parts a trainer made; `header` holds language, intents, kind, scale, threshold,
  // entity rules (as JSON) and whatever else it wants kept (evaluation).
  struct Parts {
    nlohmann::json header;
    FeatureSpace features;          // kinds "linear" and "ensemble"
    LinearModel linear;
    std::string fasttext_bytes;     // kinds "fasttext" and "ensemble"
    EntityTagger tagger;
  };
  static Result<std::string> Serialize(const Parts& parts);
  // Checks everything it reads: a damaged or foreign file is kUnprocessable.
  static Result<std::unique_ptr<NluModel>> Load(std::string_view bytes);

  // Not thread-safe (fastText's and the analyzer's state): one caller at a time.
  NluPrediction Predict(std::string_view text) const;

  const std::vector<std::string>& intents() const { return intents_; }
  const nlohmann::json& header() const { return header_; }
  double threshold() const { return threshold_; }

 private:
  NluModel() = default;
  // Every intent's probability, in intents() order.
  void Scores(std::string_view text, std::vector<float>& probabilities) const;
  std::vector<EntitySpan> Entities(std::string_view text) const;

  nlohmann::json header_;
  std::vector<std::string> intents_;
  int out_of_scope_ = -1;
  std::string kind_;
  double scale_ = 1;
  double threshold_ = 0;
  double weight_ = 1;                       // ensemble: the linear part's share
  double part_scales_[2] = {1, 1};          // ensemble: each part's own temperature
  std::string language_;
  const ChineseSegmenter* zh_ = nullptr;
  FeatureSpace features_;
  LinearModel linear_;
  FastTextClassifier fasttext_;
  EntityRules rules_;
  EntityTagger tagger_;
};

// The scores of a classifier made probabilities: softmax(scale · scores).
void Calibrate(const float* scores, size_t n, double scale, float* probabilities);

// log(weight · a + (1 - weight) · b), element by element: how an ensemble mixes its parts'
// probabilities into scores (which the model's own temperature then calibrates).
void MixLogProbabilities(const float* a, const float* b, size_t n, double weight, float* out);

// The process's Chinese segmenter for `path` (loaded once; null when the dictionary is missing,
// and Chinese is then cut into character bigrams).
const ChineseSegmenter* SharedChineseSegmenter(const std::string& path);

// The entity rules of a header's "entities" (a bot's entity definitions: lookup or regex).
Result<std::vector<EntityRule>> EntityRulesFromJson(const nlohmann::json& entities);

}  // namespace aimass::text
