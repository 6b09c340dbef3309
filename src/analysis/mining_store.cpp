#include "analysis/mining_store.hpp"

namespace aimass::analysis {

using storage::Row;

std::vector<storage::Migration> MiningStore::Migrations() {
  return {{"analysis", 1, R"(
CREATE TABLE analysis_mining (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  dataset TEXT NOT NULL,
  version INTEGER NOT NULL,
  spec TEXT NOT NULL,
  state TEXT NOT NULL,
  phase TEXT NOT NULL DEFAULT '',
  result TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX analysis_mining_state ON analysis_mining (state, id);
)"}};
}

namespace {

constexpr const char* kColumns = "id, kind, dataset, version, spec, state, phase, error, owner, created_ms, started_ms, finished_ms";

MiningRow FromRow(const Row& r, bool with_result) {
  MiningRow m;
  m.id = r.Int(0);
  m.kind = r.Text(1);
  m.dataset = r.Text(2);
  m.version = r.Int(3);
  m.spec = r.Text(4);
  m.state = r.Text(5);
  m.phase = r.Text(6);
  m.error = r.Text(7);
  m.owner = r.Text(8);
  m.created_ms = r.Int(9);
  m.started_ms = r.Int(10);
  m.finished_ms = r.Int(11);
  if (with_result) m.result = r.Text(12);
  return m;
}

}  // namespace

Result<int64_t> MiningStore::Insert(const MiningRow& r) {
  int64_t id = 0;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO analysis_mining (kind, dataset, version, spec, state, owner, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   {r.kind, r.dataset, r.version, r.spec, r.state, r.owner, r.created_ms})
                               .status());
    id = tx.LastInsertId();
    return Status::Ok();
  }));
  return id;
}

Result<MiningRow> MiningStore::Get(int64_t id, bool with_result) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kColumns + (with_result ? ", result" : "") +
                                                   " FROM analysis_mining WHERE id = ?",
                                               {id}));
  if (rows.empty()) return Status::NotFound("no mining job " + std::to_string(id));
  return FromRow(rows[0], with_result);
}

Result<std::vector<MiningRow>> MiningStore::List(const std::string& state, const std::string& kind, const std::string& dataset,
                                                 int64_t before, int64_t limit) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM analysis_mining WHERE 1 = 1";
  std::vector<storage::Value> params;
  if (!state.empty()) sql += " AND state = ?", params.emplace_back(state);
  if (!kind.empty()) sql += " AND kind = ?", params.emplace_back(kind);
  if (!dataset.empty()) sql += " AND dataset = ?", params.emplace_back(dataset);
  if (before > 0) sql += " AND id < ?", params.emplace_back(before);
  sql += " ORDER BY id DESC LIMIT ?";
  params.emplace_back(limit);
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(sql, params));
  std::vector<MiningRow> out;
  for (const auto& r : rows) out.push_back(FromRow(r, false));
  return out;
}

Result<std::optional<MiningRow>> MiningStore::ClaimNext(int64_t now_ms) {
  std::optional<MiningRow> claimed;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query(std::string("SELECT ") + kColumns +
                                                " FROM analysis_mining WHERE state = 'queued' ORDER BY id LIMIT 1"));
    if (rows.empty()) return Status::Ok();
    MiningRow m = FromRow(rows[0], false);
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE analysis_mining SET state = 'running', phase = '', started_ms = ? "
                                               "WHERE id = ? AND state = 'queued'",
                                               {now_ms, m.id}));
    if (n == 1) {
      m.state = "running";
      m.started_ms = now_ms;
      claimed = std::move(m);
    }
    return Status::Ok();
  }));
  return claimed;
}

Status MiningStore::SetPhase(int64_t id, const std::string& phase) {
  return db_.Exec("UPDATE analysis_mining SET phase = ? WHERE id = ? AND state = 'running'", {phase, id}).status();
}

Result<bool> MiningStore::Finish(int64_t id, const std::string& state, const std::string& result, const std::string& error, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE analysis_mining SET state = ?, phase = '', result = ?, error = ?, finished_ms = ? "
                                              "WHERE id = ? AND state = 'running'",
                                              {state, result, error, now_ms, id}));
  return n == 1;
}

Result<bool> MiningStore::Cancel(int64_t id, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE analysis_mining SET state = 'cancelled', phase = '', finished_ms = ? "
                                              "WHERE id = ? AND state IN ('queued', 'running')",
                                              {now_ms, id}));
  return n == 1;
}

Status MiningStore::Delete(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM analysis_mining WHERE id = ?", {id}));
  if (n == 0) return Status::NotFound("no mining job " + std::to_string(id));
  return Status::Ok();
}

Result<int64_t> MiningStore::Requeue() {
  return db_.Exec("UPDATE analysis_mining SET state = 'queued', phase = '', started_ms = 0 WHERE state = 'running'");
}

}  // namespace aimass::analysis
