// The search module's tables: each index's spec, owner and dataset sync state, and the click
// feedback users send for later learning to rank. The documents live in the indexes' own
// Xapian databases, not here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "storage/db.hpp"

namespace aimass::search {

struct IndexRow {
  std::string name;
  std::string spec;  // IndexSpec JSON
  std::string owner;
  int64_t created_ms = 0, updated_ms = 0;
  int64_t synced_version = 0;  // of the source dataset; 0: none yet
  std::string sync_state;      // "" | syncing | synced | failed
  std::string sync_error;
};

struct FeedbackRow {
  int64_t id = 0;
  std::string query, doc_id, kind, user;
  int64_t position = 0;
  int64_t created_ms = 0;
};

class SearchStore {
 public:
  explicit SearchStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status Insert(const IndexRow& r);  // already_exists when the name is taken
  Result<IndexRow> Get(const std::string& name);
  Result<std::vector<IndexRow>> List();
  Status UpdateSpec(const std::string& name, const std::string& spec, int64_t now_ms);
  Status UpdateSync(const std::string& name, int64_t version, const std::string& state, const std::string& error);
  Status Delete(const std::string& name);  // feedback too

  Status AddFeedback(const std::string& index, const std::vector<FeedbackRow>& rows);
  Result<std::vector<FeedbackRow>> Feedback(const std::string& index, int64_t limit, int64_t offset);

 private:
  storage::Db& db_;
};

}  // namespace aimass::search
