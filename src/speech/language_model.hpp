// A trigram language model of a bot's example sentences, in ARPA form, for the recogniser to
// hear phrasings the examples do not have word for word (a grammar of the sentences cannot).
// Interpolated absolute discounting (D = 0.7), written as a back-off model.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "speech/grammar.hpp"

namespace aimass::speech {

struct LanguageModel {
  std::string arpa;
  std::set<std::string> words;  // its vocabulary, every word in the dictionary
  size_t sentences = 0;         // the sentences it was counted from (slots filled in)
};

// The input's sentences with each slot reference replaced by the slot's phrases (up to
// `max_fills` versions of a sentence, the phrases taking turns), and each slot's phrases alone.
// Sentences with a word the dictionary lacks are left out; none left is an error.
Result<LanguageModel> BuildLanguageModel(const GrammarInput& input, const PronunciationDictionary& dictionary,
                                         size_t max_fills = 10);

}  // namespace aimass::speech
