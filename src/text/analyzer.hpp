// How text becomes terms, the same for documents and queries: words split at non-word
// characters and lowercased, Latin-script words stemmed by the index's language (Snowball,
// through Xapian), runs of Han characters cut into words by the Chinese segmenter (or into
// character bigrams when its dictionary is missing).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace aimass::text {

class ChineseSegmenter;

struct Token {
  std::string word;   // lowercased, as written
  size_t begin = 0;   // byte offsets in the text
  size_t end = 0;
  uint32_t pos = 0;   // word position (a sub-word shares its word's position)
  bool cjk = false;
  bool sub = false;   // search mode's shorter word inside a longer one
};

// Not thread-safe (its stem cache): one per request or batch.
class Analyzer {
 public:
  // language: a Snowball stemmer's name or code (`en`, `english`, `fr`, …), `zh` and `auto`
  // (English stemming for Latin words), or `none`. zh may be null.
  Analyzer(std::string language, const ChineseSegmenter* zh);

  // Valid language names (Xapian's stemmers, zh, auto, none).
  static bool ValidLanguage(const std::string& language);

  // search_mode adds the shorter Chinese words inside longer ones (for indexing).
  std::vector<Token> Tokenize(std::string_view text, bool search_mode) const;
  // The term a token is indexed and searched by.
  std::string Term(const Token& t) const;
  std::string Stem(const std::string& word) const;

 private:
  void CutHan(std::string_view text, size_t begin, size_t end, uint32_t& pos, bool search_mode,
              std::vector<Token>& out) const;
  std::string stemmer_;  // Xapian's name; empty: no stemming
  const ChineseSegmenter* zh_;
  // Words repeat: each is stemmed once per analyzer (an analyzer serves one request).
  mutable std::unordered_map<std::string, std::string> stems_;
};

}  // namespace aimass::text
