#include "cube/store.hpp"

namespace aimass::cube {

using storage::Row;

namespace {

constexpr const char* kColumns = "name, owner, spec, state, error, source_version, row_count, built_ms, created_ms, updated_ms";

CubeRow From(const Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5), r.Int(6), r.Int(7), r.Int(8), r.Int(9)};
}

}  // namespace

std::vector<storage::Migration> CubeStore::Migrations() {
  return {{"cube", 1, R"(
CREATE TABLE cube_cubes (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  source_version INTEGER NOT NULL DEFAULT 0,
  row_count INTEGER NOT NULL DEFAULT 0,
  built_ms INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE cube_views (
  cube TEXT NOT NULL,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  query TEXT NOT NULL,
  chart TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (cube, name)
);
CREATE TABLE cube_query_log (
  cube TEXT NOT NULL,
  signature TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_ms INTEGER NOT NULL,
  PRIMARY KEY (cube, signature)
);
)"}};
}

Status CubeStore::Create(const CubeRow& c) {
  auto r = db_.Exec("INSERT INTO cube_cubes (name, owner, spec, state, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    {c.name, c.owner, c.spec, c.state, c.created_ms, c.updated_ms});
  if (!r.ok() && r.status().code() == Code::kConflict) return Status::Conflict("cube '" + c.name + "' exists");
  return r.status();
}

Result<CubeRow> CubeStore::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kColumns + " FROM cube_cubes WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no cube '" + name + "'");
  return From(rows[0]);
}

Result<std::vector<CubeRow>> CubeStore::List() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kColumns + " FROM cube_cubes ORDER BY name"));
  std::vector<CubeRow> out;
  for (const auto& r : rows) out.push_back(From(r));
  return out;
}

Status CubeStore::SetSpec(const std::string& name, const std::string& spec, int64_t now_ms) {
  return db_.Exec("UPDATE cube_cubes SET spec = ?, updated_ms = ? WHERE name = ?", {spec, now_ms, name}).status();
}

Status CubeStore::SetBuilt(const std::string& name, const std::string& state, const std::string& error, int64_t source_version,
                           int64_t rows, int64_t built_ms) {
  return db_.Exec("UPDATE cube_cubes SET state = ?, error = ?, source_version = ?, row_count = ?, built_ms = ? WHERE name = ?",
                  {state, error, source_version, rows, built_ms, name})
      .status();
}

Status CubeStore::Delete(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM cube_cubes WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("no cube '" + name + "'");
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM cube_views WHERE cube = ?", {name}).status());
    return tx.Exec("DELETE FROM cube_query_log WHERE cube = ?", {name}).status();
  });
}

Status CubeStore::PutView(const ViewRow& v) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM cube_views WHERE cube = ? AND name = ?", {v.cube, v.name}).status());
    return tx.Exec("INSERT INTO cube_views (cube, name, owner, query, chart, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                   {v.cube, v.name, v.owner, v.query, v.chart, v.created_ms})
        .status();
  });
}

Result<std::vector<ViewRow>> CubeStore::Views(const std::string& cube) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT cube, name, owner, query, chart, created_ms FROM cube_views WHERE cube = ? ORDER BY name", {cube}));
  std::vector<ViewRow> out;
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5)});
  return out;
}

Status CubeStore::DeleteView(const std::string& cube, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM cube_views WHERE cube = ? AND name = ?", {cube, name}));
  if (n == 0) return Status::NotFound("cube '" + cube + "' has no view '" + name + "'");
  return Status::Ok();
}

Status CubeStore::LogQueries(const std::vector<QueryLogRow>& rows) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const auto& r : rows) {
      AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE cube_query_log SET count = count + ?, last_ms = ? WHERE cube = ? AND signature = ?",
                                                 {r.count, r.last_ms, r.cube, r.signature}));
      if (n == 0) {
        AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO cube_query_log (cube, signature, count, last_ms) VALUES (?, ?, ?, ?)",
                                       {r.cube, r.signature, r.count, r.last_ms})
                                   .status());
      }
    }
    return Status::Ok();
  });
}

Result<std::vector<QueryLogRow>> CubeStore::QueryLog(const std::string& cube, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT cube, signature, count, last_ms FROM cube_query_log WHERE cube = ? ORDER BY count DESC, last_ms DESC LIMIT ?",
                                               {cube, limit}));
  std::vector<QueryLogRow> out;
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), r.Int(2), r.Int(3)});
  return out;
}

}  // namespace aimass::cube
