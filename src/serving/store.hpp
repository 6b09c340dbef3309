// DeploymentStore: serving's table (serving_deployments): each deployment's spec, traffic
// history and whether it is loaded, so that a restart brings the same deployments back.
#pragma once

#include <cstdint>
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
};

class DeploymentStore {
 public:
  explicit DeploymentStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  // Inserts, or replaces all but the creator and creation time.
  Status Put(const StoredDeployment& d);
  Result<std::vector<StoredDeployment>> List();
  Status Delete(const std::string& name);

 private:
  storage::Db& db_;
};

}  // namespace aimass::serving
