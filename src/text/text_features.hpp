// Text as numbers for the platform's text classifiers: TF-IDF over two blocks of features, the
// words (stemmed unigrams and bigrams, Chinese words as segmented) and the character n-grams
// of each word with a space at either end (scikit-learn's `char_wb`), each block L2-normalised
// on its own. Characters catch misspellings and word forms; words catch phrases.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.hpp"

namespace aimass::text {

class Analyzer;

// Sorted by index, no repeats.
struct SparseVector {
  std::vector<std::pair<uint32_t, float>> entries;
};

struct FeatureOptions {
  int word_ngrams = 2;   // 1: unigrams only
  int char_min = 2;      // character n-grams' lengths, in characters (0: no character block)
  int char_max = 5;
  int char_min_count = 2;  // a character n-gram seen in fewer training texts is dropped
};

class FeatureSpace {
 public:
  FeatureSpace() = default;

  // The vocabulary and inverse document frequencies of `texts` (idf = ln((1+n)/(1+df)) + 1).
  static FeatureSpace Fit(const std::vector<std::string>& texts, const Analyzer& analyzer, const FeatureOptions& o);

  // Sublinear term frequency (1 + ln tf) times idf, each block scaled to unit length. Features
  // the training texts never had are left out.
  SparseVector Transform(std::string_view text, const Analyzer& analyzer) const;

  size_t size() const { return idf_.size(); }

  // A compact binary form (hashes of the features, not their text).
  void Save(std::string& out) const;
  static Result<FeatureSpace> Load(std::string_view in);

 private:
  // Each feature of `text` as (hash, block), repeats included.
  void Extract(std::string_view text, const Analyzer& analyzer, std::vector<std::pair<uint64_t, uint8_t>>& out) const;

  FeatureOptions options_;
  std::unordered_map<uint64_t, uint32_t> index_;  // feature hash → index
  std::vector<float> idf_;
  std::vector<uint8_t> block_;  // 0 words, 1 characters
};

}  // namespace aimass::text
