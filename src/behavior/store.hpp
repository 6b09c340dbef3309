// Where the behavior module keeps its definitions in the metadata store: projects (and the
// topic each follows), cohorts, saved insights and dashboards. Events and persons are in the
// projects' own files on local disk (project.hpp).
#pragma once

#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::behavior {

struct ProjectRow {
  std::string name, description, owner;
  std::string topic;  // the mq topic it captures from ("": none)
  int64_t created_ms = 0;
};

// A cohort, a saved insight or a dashboard: a named JSON document in a project.
struct ItemRow {
  std::string project, name, owner;
  std::string body;  // JSON
  int64_t created_ms = 0, updated_ms = 0;
};

class BehaviorStore {
 public:
  explicit BehaviorStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status CreateProject(const ProjectRow& p);
  Result<ProjectRow> GetProject(const std::string& name);
  Result<std::vector<ProjectRow>> ListProjects();
  Status UpdateProject(const ProjectRow& p);
  Status DeleteProject(const std::string& name);  // with its cohorts, insights and dashboards

  // kind: cohort | insight | dashboard. Put replaces an item of the same name.
  Status PutItem(const std::string& kind, const ItemRow& item);
  Result<ItemRow> GetItem(const std::string& kind, const std::string& project, const std::string& name);
  Result<std::vector<ItemRow>> ListItems(const std::string& kind, const std::string& project);
  Status DeleteItem(const std::string& kind, const std::string& project, const std::string& name);

 private:
  storage::Db& db_;
};

}  // namespace aimass::behavior
