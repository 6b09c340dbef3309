#include "behavior/store.hpp"

namespace aimass::behavior {

using storage::Row;

std::vector<storage::Migration> BehaviorStore::Migrations() {
  return {{"behavior", 1, R"(
CREATE TABLE behavior_projects (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL,
  topic TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE TABLE behavior_items (
  kind TEXT NOT NULL,
  project TEXT NOT NULL,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  body TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (kind, project, name)
);
)"}};
}

namespace {

ProjectRow ProjectFrom(const Row& r) { return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)}; }
ItemRow ItemFrom(const Row& r) { return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5)}; }

}  // namespace

Status BehaviorStore::CreateProject(const ProjectRow& p) {
  auto r = db_.Exec("INSERT INTO behavior_projects (name, description, owner, topic, created_ms) VALUES (?, ?, ?, ?, ?)",
                    {p.name, p.description, p.owner, p.topic, p.created_ms});
  if (!r.ok() && r.status().code() == Code::kConflict) return Status::Conflict("project '" + p.name + "' exists");
  return r.status();
}

Result<ProjectRow> BehaviorStore::GetProject(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT name, description, owner, topic, created_ms FROM behavior_projects WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no behaviour project '" + name + "'");
  return ProjectFrom(rows[0]);
}

Result<std::vector<ProjectRow>> BehaviorStore::ListProjects() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT name, description, owner, topic, created_ms FROM behavior_projects ORDER BY name"));
  std::vector<ProjectRow> out;
  for (const auto& r : rows) out.push_back(ProjectFrom(r));
  return out;
}

Status BehaviorStore::UpdateProject(const ProjectRow& p) {
  return db_.Exec("UPDATE behavior_projects SET description = ?, topic = ? WHERE name = ?", {p.description, p.topic, p.name}).status();
}

Status BehaviorStore::DeleteProject(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM behavior_items WHERE project = ?", {name}).status());
    return tx.Exec("DELETE FROM behavior_projects WHERE name = ?", {name}).status();
  });
}

Status BehaviorStore::PutItem(const std::string& kind, const ItemRow& i) {
  return db_
      .Exec("INSERT INTO behavior_items (kind, project, name, owner, body, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, project, name) DO UPDATE SET body = excluded.body, owner = excluded.owner, updated_ms = excluded.updated_ms",
            {kind, i.project, i.name, i.owner, i.body, i.created_ms, i.updated_ms})
      .status();
}

Result<ItemRow> BehaviorStore::GetItem(const std::string& kind, const std::string& project, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT project, name, owner, body, created_ms, updated_ms FROM behavior_items "
                                               "WHERE kind = ? AND project = ? AND name = ?",
                                               {kind, project, name}));
  if (rows.empty()) return Status::NotFound("no " + kind + " '" + name + "' in project '" + project + "'");
  return ItemFrom(rows[0]);
}

Result<std::vector<ItemRow>> BehaviorStore::ListItems(const std::string& kind, const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT project, name, owner, body, created_ms, updated_ms FROM behavior_items "
                                               "WHERE kind = ? AND project = ? ORDER BY name",
                                               {kind, project}));
  std::vector<ItemRow> out;
  for (const auto& r : rows) out.push_back(ItemFrom(r));
  return out;
}

Status BehaviorStore::DeleteItem(const std::string& kind, const std::string& project, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM behavior_items WHERE kind = ? AND project = ? AND name = ?", {kind, project, name}));
  if (n == 0) return Status::NotFound("no " + kind + " '" + name + "' in project '" + project + "'");
  return Status::Ok();
}

}  // namespace aimass::behavior
