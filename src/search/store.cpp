#include "search/store.hpp"

namespace aimass::search {

using storage::Row;
using storage::Value;

namespace {

constexpr const char* kIndexColumns =
    "name, spec, owner, created_ms, updated_ms, synced_version, sync_state, sync_error";

IndexRow IndexFrom(const Row& row) {
  return {row.Text(0), row.Text(1), row.Text(2), row.Int(3), row.Int(4), row.Int(5), row.Text(6), row.Text(7)};
}

}  // namespace

std::vector<storage::Migration> SearchStore::Migrations() {
  return {{"search", 1, R"(
CREATE TABLE search_indexes (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  synced_version INTEGER NOT NULL DEFAULT 0,
  sync_state TEXT NOT NULL DEFAULT '',
  sync_error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE search_feedback (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  index_name TEXT NOT NULL,
  query TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  kind TEXT NOT NULL,
  user_name TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX search_feedback_index ON search_feedback (index_name, id);
)"}};
}

Status SearchStore::Insert(const IndexRow& r) {
  auto n = db_.Exec("INSERT OR IGNORE INTO search_indexes (name, spec, owner, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)",
                    {r.name, r.spec, r.owner, r.created_ms, r.updated_ms});
  if (!n.ok()) return n.status();
  if (*n == 0) return Status::Conflict("index '" + r.name + "' exists");
  return Status::Ok();
}

Result<IndexRow> SearchStore::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kIndexColumns + " FROM search_indexes WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no search index '" + name + "'");
  return IndexFrom(rows[0]);
}

Result<std::vector<IndexRow>> SearchStore::List() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kIndexColumns + " FROM search_indexes ORDER BY name"));
  std::vector<IndexRow> out;
  for (const auto& r : rows) out.push_back(IndexFrom(r));
  return out;
}

Status SearchStore::UpdateSpec(const std::string& name, const std::string& spec, int64_t now_ms) {
  return db_.Exec("UPDATE search_indexes SET spec = ?, updated_ms = ? WHERE name = ?", {spec, now_ms, name}).status();
}

Status SearchStore::UpdateSync(const std::string& name, int64_t version, const std::string& state, const std::string& error) {
  return db_.Exec("UPDATE search_indexes SET synced_version = ?, sync_state = ?, sync_error = ? WHERE name = ?",
                  {version, state, error, name}).status();
}

Status SearchStore::Delete(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM search_feedback WHERE index_name = ?", {name}).status());
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM search_indexes WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("no search index '" + name + "'");
    return Status::Ok();
  });
}

Status SearchStore::AddFeedback(const std::string& index, const std::vector<FeedbackRow>& rows) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const auto& r : rows) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO search_feedback (index_name, query, doc_id, position, kind, user_name, created_ms) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     {index, r.query, r.doc_id, r.position, r.kind, r.user, r.created_ms})
                                 .status());
    }
    return Status::Ok();
  });
}

Result<std::vector<FeedbackRow>> SearchStore::Feedback(const std::string& index, int64_t limit, int64_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, query, doc_id, kind, user_name, position, created_ms FROM search_feedback "
                                               "WHERE index_name = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                                               {index, limit, offset}));
  std::vector<FeedbackRow> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5), r.Int(6)});
  return out;
}

}  // namespace aimass::search
