// The words of an index as written (lowercased, before stemming), held in memory for typo
// tolerance and prefix search: which words lie within one or two edits of a query's word
// (Damerau–Levenshtein, a transposition being one edit; a first letter that differs counts as
// two, as Meilisearch counts it), and which begin with what the user is still typing. Words
// only grow here (they are kept in the Xapian database's spelling table); one no document
// holds any more is dropped at query time by its term's frequency.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace aimass::search {

class Vocabulary {
 public:
  // Adds words not yet known (any order, duplicates allowed).
  void Add(std::vector<std::string> words);
  size_t size() const;

  // Words other than `word` within `max_edits` of it, with their distance, at most `limit`
  // (the closest first).
  std::vector<std::pair<int, std::string>> Near(const std::string& word, int max_edits, size_t limit) const;
  // Words starting with `prefix` (not `prefix` itself); at most `scan` are looked at.
  std::vector<std::string> WithPrefix(const std::string& prefix, size_t scan) const;

  // Edit distance with transpositions, stopping once it exceeds `max` (then returns max+1).
  static int Distance(std::string_view a, std::string_view b, int max);

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::string> sorted_;                   // every term, sorted
  std::vector<std::vector<uint32_t>> by_length_;      // term indexes in sorted_… rebuilt on Add
};

}  // namespace aimass::search
