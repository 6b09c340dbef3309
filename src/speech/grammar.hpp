// What a recogniser listens for: a JSGF grammar of a bot's example sentences (an entity's
// mention replaced by any of its lookup values) and the pronunciations of their words.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"

namespace aimass::speech {

// Words as they are spoken: lower case, digits spelled out ("42" → "forty two"), everything
// but letters and apostrophes dropped.
std::vector<std::string> SpokenWords(std::string_view text);

// A CMU-style pronouncing dictionary ("word  PH O NES", alternatives as "word(2) …").
class PronunciationDictionary {
 public:
  static Result<std::shared_ptr<const PronunciationDictionary>> Load(const std::string& path);
  bool Has(const std::string& word) const { return phones_.count(word) > 0; }
  // The dictionary's lines for `words` (each with its alternatives): a decoder's small -dict.
  std::string Entries(const std::set<std::string>& words) const;
  size_t size() const { return phones_.size(); }

 private:
  std::unordered_map<std::string, std::vector<std::string>> phones_;
};

struct GrammarInput {
  // Each sentence as words and slot references ("$day").
  std::vector<std::vector<std::string>> sentences;
  // A slot's phrases, each spoken as SpokenWords gives.
  std::map<std::string, std::vector<std::string>> slots;
};

// Each slot's phrases as SpokenWords gives them, those the dictionary can say whole (in the
// order given, repeats kept): what the grammar and the language model both fill slots with.
using SpokenPhrases = std::map<std::string, std::vector<std::vector<std::string>>>;
SpokenPhrases SpeakableSlots(const GrammarInput& input, const PronunciationDictionary& dictionary);

struct Grammar {
  std::string jsgf;
  std::set<std::string> words;   // every word it can produce, all in the dictionary
  size_t sentences = 0;          // kept
  size_t dropped = 0;            // sentences with a word the dictionary lacks
};

// At most `max_sentences` distinct sentences are kept, in the order given. An error when no
// sentence is left.
Result<Grammar> BuildGrammar(const GrammarInput& input, const PronunciationDictionary& dictionary,
                             size_t max_sentences = 5000);

}  // namespace aimass::speech
