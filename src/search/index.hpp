// One search index: its documents in a Xapian database on local disk (BM25 with field weights,
// positions for phrases, value slots for facets, sorting and numeric filters), the in-memory
// vocabulary for typos and prefixes, and the vector graph. Writes are serialised and each
// batch is one Xapian commit, durable when it returns and seen by the next search; searches
// run in parallel on a pool of readers.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "search/index_spec.hpp"

namespace aimass::text {
class ChineseSegmenter;
}  // namespace aimass::text

namespace aimass::search {

struct SearchRequest {
  std::string q;
  std::string filter;
  std::vector<std::string> facets;
  std::vector<std::pair<std::string, bool>> sort;  // field, ascending
  size_t limit = 20;
  size_t offset = 0;
  bool highlight = true;
  std::optional<std::string> matching;  // overrides the index's
  std::optional<bool> typos, prefix;    // override the index's
  double ratio = 0;                     // hybrid: 0 keywords only … 1 vectors only
  std::vector<float> vector;            // the query's vector (given or computed)
};

struct Hit {
  std::string id;
  double score = 0;
  nlohmann::json document;
  nlohmann::json highlights;
};

struct SearchResult {
  std::vector<Hit> hits;
  int64_t total = 0;
  bool total_exact = true;
  nlohmann::json facets = nlohmann::json::object();
};

struct WriteResult {
  int64_t added = 0, replaced = 0;
};

class Index {
 public:
  // Opens (creating when missing) the index in `dir`. zh may be null.
  static Result<std::unique_ptr<Index>> Open(const std::string& dir, IndexSpec spec, const text::ChineseSegmenter* zh);
  ~Index();

  IndexSpec spec() const;
  // Settings that need no reindex (synonyms, stop words, typos, prefix, ranking, source).
  void SetSettings(const IndexSpec& spec);
  // Rewrites every document for a new spec (new fields, language or vector).
  Status Reindex(const IndexSpec& spec);

  // Checks documents against the spec and gives each its id; bad_request names the first bad
  // one (by its place in the batch).
  Status Check(const std::vector<nlohmann::json>& docs) const;
  // With update, each document is merged into the stored one of its id (members replaced).
  Result<std::vector<nlohmann::json>> Merge(std::vector<nlohmann::json> docs) const;
  // Adds or replaces the documents, one commit. A document's `_vector` is its vector.
  Result<WriteResult> Write(const std::vector<nlohmann::json>& docs);
  Result<int64_t> Delete(const std::vector<std::string>& ids);
  // Deletes every document whose id is not in `keep` (a dataset's new version).
  Result<int64_t> DeleteOthers(const std::set<std::string>& keep);
  Result<nlohmann::json> Get(const std::string& id) const;
  Result<std::vector<nlohmann::json>> List(size_t offset, size_t limit) const;
  int64_t DocCount() const;
  size_t VocabularySize() const;

  Result<SearchResult> Search(const SearchRequest& req) const;

  // Saves the vector graph (the database itself is committed after every write).
  Status Close();

  static std::string IdOf(const nlohmann::json& doc);  // "" when missing or invalid

 private:
  Index() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::search
