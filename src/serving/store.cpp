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
)sql"}};
}

Status DeploymentStore::Put(const StoredDeployment& d) {
  return db_
      .Exec("INSERT INTO serving_deployments (name, spec, history, loaded, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, "
            "history = excluded.history, loaded = excluded.loaded, updated_at = excluded.updated_at",
            {d.name, d.spec, d.history, int64_t{d.loaded}, d.created_by, d.created_at, d.updated_at})
      .status();
}

Result<std::vector<StoredDeployment>> DeploymentStore::List() {
  AIMASS_ASSIGN_OR_RETURN(
      storage::Rows rows,
      db_.Query("SELECT name, spec, history, loaded, created_by, created_at, updated_at FROM serving_deployments"));
  std::vector<StoredDeployment> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back({r.Text(0), r.Text(1), r.Text(2), r.Int(3) != 0, r.Text(4), r.Int(5), r.Int(6)});
  }
  return out;
}

Status DeploymentStore::Delete(const std::string& name) {
  return db_.Exec("DELETE FROM serving_deployments WHERE name = ?", {name}).status();
}

}  // namespace aimass::serving
