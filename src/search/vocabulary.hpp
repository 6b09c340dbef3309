// The words of an index as written (lowercased, before stemming), held in memory for typo
// tolerance and prefix search: which words lie within one or two edits of a query's word
// (Damerau–Levenshtein, a transposition being one edit; a first letter that differs counts as
// two, as Meilisearch counts it), and which begin with what the user is still typing. Words
// only grow here; one no document holds any more is dropped at query time by its term's
// frequency. Like the vector graph it is a cache of the documents: saved with the index's
// revision when the index closes, rebuilt from the documents when that does not match.
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"

namespace aimass::search {

class Vocabulary {
 public:
  // Adds words (any order; each occurrence counts once).
  void Add(std::vector<std::string> words);
  // Forgets every word (before a reindex adds them again).
  void Clear();
  // Adds words with their counts.
  void AddCounted(std::vector<std::pair<std::string, uint64_t>> counted);
  size_t size() const;

  // Words other than `word` within `max_edits` of it, with their distance, at most `limit`
  // (the closest first).
  std::vector<std::pair<int, std::string>> Near(const std::string& word, int max_edits, size_t limit) const;
  // The `limit` most frequent words starting with `prefix` (not `prefix` itself), of the first
  // `scan` in order.
  std::vector<std::string> WithPrefix(const std::string& prefix, size_t scan, size_t limit) const;

  // The words and counts, with the revision of the index they match ("count word" lines, the
  // revision first; written to a temporary file and renamed). Load answers false when the
  // file is missing, unreadable or of another revision.
  Status Save(const std::string& path, uint64_t revision) const;
  bool Load(const std::string& path, uint64_t revision);

  // Edit distance with transpositions, stopping once it exceeds `max` (then returns max+1).
  static int Distance(std::string_view a, std::string_view b, int max);

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::string> sorted_;  // every word, sorted
  std::vector<uint64_t> counts_;     // how often each was indexed
  // Indexes into sorted_, rebuilt on Add: by first byte and length (a typo that keeps the
  // first letter stays in its bucket), and by the hash of all but the first byte (a word whose
  // first letter is wrong, or missing, or one too many).
  std::unordered_map<uint32_t, std::vector<uint32_t>> by_start_;
  std::unordered_map<size_t, std::vector<uint32_t>> by_tail_;
};

}  // namespace aimass::search
