// Entities learned from annotated examples: each token tagged O, B-entity or I-entity by a
// linear model (LIBLINEAR's logistic regression) over features of the token and its neighbours
// (word, stem, affixes, shape, the words around it), then the best sequence of tags that obeys
// BIO's rule (an I only after its B) found by Viterbi. Rasa's CRFEntityExtractor does the same
// with a CRF; this is its maximum-entropy-tagger cousin, which LIBLINEAR trains in seconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"
#include "text/annotated_text.hpp"
#include "text/linear_model.hpp"

namespace aimass::text {

class Analyzer;

class EntityTagger {
 public:
  EntityTagger() = default;

  // Learns the entities marked in `examples` (none marked: an empty tagger).
  static Result<EntityTagger> Train(const std::vector<AnnotatedText>& examples, const Analyzer& analyzer);

  std::vector<EntitySpan> Extract(std::string_view text, const Analyzer& analyzer) const;

  bool empty() const { return entities_.empty(); }
  const std::vector<std::string>& entities() const { return entities_; }

  void Save(std::string& out) const;
  static Result<EntityTagger> Load(std::string_view in);

 private:
  // The hashed features of each token of `text`.
  std::vector<std::vector<uint64_t>> TokenFeatures(std::string_view text, const Analyzer& analyzer,
                                                   std::vector<std::pair<size_t, size_t>>* offsets) const;
  SparseVector Vectorize(const std::vector<uint64_t>& hashes) const;

  std::vector<std::string> entities_;  // tag 0 is O, 1+2e is B-e, 2+2e is I-e
  std::unordered_map<uint64_t, uint32_t> index_;
  LinearModel model_;
};

}  // namespace aimass::text
