#include "collector/store.hpp"

#include "common/text.hpp"

namespace aimass::collector {

using storage::Row;
using storage::Tx;

namespace {

// Text a user's source gave, made storable anywhere: at most `max` bytes cut on a character
// boundary, invalid UTF-8 and NULs replaced by U+FFFD (PostgreSQL refuses both).
std::string SafeText(std::string_view s, size_t max = 4096) {
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < max;) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      if (out.size() + n > max) break;
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (c == 0) {
      out += "\xEF\xBF\xBD";
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

constexpr const char* kColumns = "name, dataset, spec, owner, paused, offset_json, offset_version, created_ms, updated_ms";

CollectorRow From(const Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4) != 0, r.Text(5), r.Int(6), r.Int(7), r.Int(8)};
}

}  // namespace

std::vector<storage::Migration> CollectorStore::Migrations() {
  return {{"collector", 1, R"(
CREATE TABLE collectors (
  name TEXT PRIMARY KEY,
  dataset TEXT NOT NULL,
  spec TEXT NOT NULL,
  owner TEXT NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  offset_json TEXT NOT NULL DEFAULT '',
  offset_version INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE collector_rejected (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  collector TEXT NOT NULL,
  position TEXT NOT NULL,
  row TEXT NOT NULL,
  reason TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  UNIQUE (collector, position)
);
)"}};
}

Status CollectorStore::Create(const CollectorRow& c) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT 1 FROM collectors WHERE name = ?", {c.name}));
    if (!rows.empty()) return Status::Conflict("collector '" + c.name + "' exists");
    // A collector of the same name made before, deleted since, left no rejections behind.
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM collector_rejected WHERE collector = ?", {c.name}).status());
    return tx.Exec("INSERT INTO collectors (name, dataset, spec, owner, paused, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   {c.name, c.dataset, c.spec, c.owner, int64_t{c.paused}, c.created_ms, c.updated_ms})
        .status();
  });
}

Result<CollectorRow> CollectorStore::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kColumns + " FROM collectors WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("collector '" + name + "' not found");
  return From(rows[0]);
}

Result<std::vector<CollectorRow>> CollectorStore::List() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kColumns + " FROM collectors ORDER BY name"));
  std::vector<CollectorRow> out;
  for (const auto& r : rows) out.push_back(From(r));
  return out;
}

Status CollectorStore::Delete(const std::string& name) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM collectors WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("collector '" + name + "' not found");
    return tx.Exec("DELETE FROM collector_rejected WHERE collector = ?", {name}).status();
  });
}

Status CollectorStore::SetPaused(const std::string& name, bool paused) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE collectors SET paused = ? WHERE name = ?", {int64_t{paused}, name}));
  if (n == 0) return Status::NotFound("collector '" + name + "' not found");
  return Status::Ok();
}

Status CollectorStore::Reject(const std::string& name, const std::vector<Rejected>& rows, int64_t now_ms,
                              const std::optional<std::pair<std::string, int64_t>>& offset) {
  return db_.Transaction([&](Tx& tx) -> Status {
    for (const auto& r : rows) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT OR IGNORE INTO collector_rejected (collector, position, row, reason, time_ms) "
                                     "VALUES (?, ?, ?, ?, ?)",
                                     {name, SafeText(r.position, 512), SafeText(r.row), SafeText(r.reason, 1024), now_ms})
                                 .status());
    }
    if (offset) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE collectors SET offset_json = ?, offset_version = ?, updated_ms = ? WHERE name = ?",
                                     {offset->first, offset->second, now_ms, name})
                                 .status());
    }
    return Status::Ok();
  });
}

Result<std::vector<RejectedRow>> CollectorStore::Rejections(const std::string& name, int64_t limit, int64_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, position, row, reason, time_ms FROM collector_rejected WHERE collector = ? "
                                               "ORDER BY id DESC LIMIT ? OFFSET ?",
                                               {name, limit, offset}));
  std::vector<RejectedRow> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)});
  return out;
}

Result<int64_t> CollectorStore::RejectedCount(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT COUNT(*) FROM collector_rejected WHERE collector = ?", {name}));
  return rows[0].Int(0);
}

}  // namespace aimass::collector
