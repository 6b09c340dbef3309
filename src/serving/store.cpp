#include "serving/store.hpp"

namespace aimass::serving {

std::vector<storage::Migration> DeploymentStore::Migrations() {
  return {{"serving", 1, R"sql(
CREATE TABLE serving_deployments (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  history TEXT NOT NULL DEFAULT '[]',
  loaded INTEGER NOT NULL DEFAULT 1,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
)sql"},
          {"serving", 2, "ALTER TABLE serving_deployments ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;"}};
}

Result<int64_t> DeploymentStore::Insert(const StoredDeployment& d) {
  auto n = db_.Exec(
      "INSERT INTO serving_deployments (name, spec, history, loaded, created_by, created_at, updated_at, revision) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
      {d.name, d.spec, d.history, int64_t{d.loaded}, d.created_by, d.created_at, d.updated_at});
  if (!n.ok() && n.status().code() == Code::kConflict) return Status::Conflict("deployment '" + d.name + "' exists");
  if (!n.ok()) return n.status();
  return int64_t{1};
}

Result<int64_t> DeploymentStore::Update(const StoredDeployment& d) {
  // A compare-and-set in one statement; only when it changes nothing is the row looked at, to
  // say why.
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE serving_deployments SET spec = ?, history = ?, loaded = ?, "
                                              "updated_at = ?, revision = revision + 1 WHERE name = ? AND revision = ?",
                                              {d.spec, d.history, int64_t{d.loaded}, d.updated_at, d.name, d.revision}));
  if (n == 1) return d.revision + 1;
  AIMASS_ASSIGN_OR_RETURN(storage::Rows cur, db_.Query("SELECT 1 FROM serving_deployments WHERE name = ?", {d.name}));
  if (cur.empty()) return Status::NotFound("deployment '" + d.name + "' was deleted by another process");
  return Status::Conflict("deployment '" + d.name + "' was changed by another process; retry");
}

namespace {
constexpr const char* kColumns = "name, spec, history, loaded, created_by, created_at, updated_at, revision";
StoredDeployment FromRow(const storage::Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Int(3) != 0, r.Text(4), r.Int(5), r.Int(6), r.Int(7)};
}
}  // namespace

Result<std::vector<StoredDeployment>> DeploymentStore::List() {
  AIMASS_ASSIGN_OR_RETURN(storage::Rows rows,
                          db_.Query(std::string("SELECT ") + kColumns + " FROM serving_deployments"));
  std::vector<StoredDeployment> out;
  out.reserve(rows.size());
  for (const auto& r : rows) out.push_back(FromRow(r));
  return out;
}

Result<std::optional<StoredDeployment>> DeploymentStore::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(storage::Rows rows,
                          db_.Query(std::string("SELECT ") + kColumns + " FROM serving_deployments WHERE name = ?", {name}));
  if (rows.empty()) return std::optional<StoredDeployment>();
  return std::optional<StoredDeployment>(FromRow(rows[0]));
}

Result<std::map<std::string, int64_t>> DeploymentStore::Revisions() {
  AIMASS_ASSIGN_OR_RETURN(storage::Rows rows, db_.Query("SELECT name, revision FROM serving_deployments"));
  std::map<std::string, int64_t> out;
  for (const auto& r : rows) out[r.Text(0)] = r.Int(1);
  return out;
}

Status DeploymentStore::Delete(const std::string& name) {
  return db_.Exec("DELETE FROM serving_deployments WHERE name = ?", {name}).status();
}

}  // namespace aimass::serving
