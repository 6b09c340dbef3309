// DeploymentStore: serving's table (serving_deployments): each deployment's spec, traffic
// history and whether it is loaded, so that a restart brings the same deployments back, and
// every serving process sharing the database serves the same ones. Each row has a revision:
// a change is stored only over the revision it was made from, so two processes changing one
// deployment at once get one success and one conflict, and the others see the new revision.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::serving {

// One stored deployment; spec and history are JSON texts (serving.cpp owns their shape).
struct StoredDeployment {
  std::string name;
  std::string spec;
  std::string history = "[]";
  bool loaded = true;
  std::string created_by;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t revision = 0;  // 0: not stored yet
};

class DeploymentStore {
 public:
  explicit DeploymentStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  // Stores a new deployment (revision 1); Conflict when the name is taken.
  Result<int64_t> Insert(const StoredDeployment& d);
  // Replaces all but the creator and creation time when the row is still at d.revision;
  // returns the new revision. Conflict when another process changed it first, NotFound when
  // it was deleted.
  Result<int64_t> Update(const StoredDeployment& d);
  Result<std::vector<StoredDeployment>> List();
  Result<std::optional<StoredDeployment>> Get(const std::string& name);
  // Every deployment's revision: what a process polls to follow the others' changes.
  Result<std::map<std::string, int64_t>> Revisions();
  Status Delete(const std::string& name);

 private:
  storage::Db& db_;
};

}  // namespace aimass::serving
