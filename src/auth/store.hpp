// AuthStore: the auth module's tables (users, roles, API keys, revoked tokens, audit log) in
// storage::Db. Only the auth module touches them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/rbac.hpp"
#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::auth {

struct User {
  int64_t id = 0;
  std::string username;
  std::string password_hash;
  std::vector<std::string> roles;
  int64_t token_generation = 0;  // bumped to invalidate every token issued so far
  int64_t created_at = 0;
};

struct ApiKeyRecord {
  std::string id;
  int64_t user_id = 0;
  std::string owner;
  std::string name;
  std::string secret_hash;  // sha256 hex of the secret part
  int64_t created_at = 0;
  int64_t expires_at = 0;    // 0: never
  int64_t last_used_at = 0;  // 0: never
  int64_t revoked_at = 0;    // 0: live
};

struct AuditEntry {
  int64_t id = 0;
  int64_t time_ms = 0;
  std::string actor;
  std::string method;
  std::string path;
  std::string route;
  int status = 0;
  std::string request_id;
  std::string remote;
};

class AuthStore {
 public:
  explicit AuthStore(storage::Db& db);
  static std::vector<storage::Migration> Migrations();

  Status UpsertBuiltinRoles(const std::vector<Role>& roles);
  Result<int64_t> CountUsers();

  Result<User> InsertUser(const std::string& username, const std::string& password_hash,
                          const std::vector<std::string>& roles);
  Result<User> FindUser(const std::string& username);
  // `read_at`, when given, is lowered to when the answer was read from the database (a cached
  // answer is up to a second old): a caller keeping what it built from it knows how long it may.
  Result<User> FindUserById(int64_t id, std::chrono::steady_clock::time_point* read_at = nullptr);
  Result<std::vector<User>> ListUsers(int64_t offset, int64_t limit);
  Status UpdateUser(const std::string& username, const std::optional<std::string>& password_hash,
                    const std::optional<std::vector<std::string>>& roles);
  // Fails with conflict when it would remove the last admin.
  Status DeleteUser(const std::string& username);
  Status BumpTokenGeneration(const std::string& username);

  Result<std::vector<Role>> ListRoles();
  Result<Role> FindRole(const std::string& name);
  Status InsertRole(const Role& role);
  Status UpdateRole(const Role& role);
  Status DeleteRole(const std::string& name);
  // Union of the permissions of `roles`.
  Result<std::vector<std::string>> PermissionsOf(const std::vector<std::string>& roles,
                                                 std::chrono::steady_clock::time_point* read_at = nullptr);
  // How long a cached answer is used: a write by another process is seen within this.
  static constexpr std::chrono::seconds kCacheTtl{1};
  // Changes with every write of users, roles or keys through this store: something built from
  // its answers is current while this is unchanged (and the answers are under a second old).
  uint64_t Generation() const;

  Status InsertApiKey(const ApiKeyRecord& key);
  Result<ApiKeyRecord> FindApiKey(const std::string& id);
  Result<std::vector<ApiKeyRecord>> ListApiKeys(std::optional<int64_t> user_id);
  Status RevokeApiKey(const std::string& id, int64_t now);
  Status TouchApiKey(const std::string& id, int64_t now);

  Status RevokeToken(const std::string& jti, int64_t expires_at);
  // Revoked JTIs that have not expired yet (loaded into memory at start).
  Result<std::vector<std::pair<std::string, int64_t>>> LiveRevokedTokens(int64_t now);

  Status InsertAudit(const AuditEntry& entry);
  Result<std::vector<AuditEntry>> ListAudit(const std::optional<std::string>& actor,
                                            int64_t offset, int64_t limit);

 private:
  Status CheckRolesExist(storage::Tx& tx, const std::vector<std::string>& roles);
  Status CheckAdminRemains(storage::Tx& tx);
  storage::Db& db_;

  // Every authenticated request reads its user and role permissions (and its API key): they
  // are cached, because those queries were most of an inference call's cost. Each write here
  // of users, roles or keys clears the cache (after its commit); an entry also expires after
  // a second, so that a write by another process on a shared database is seen within one.
  struct Cache;
  class Invalidation;  // clears the cache when a write method returns
  std::shared_ptr<Cache> cache_;
};

}  // namespace aimass::auth
