#include "auth/store.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "common/string_list.hpp"
#include "common/time.hpp"

namespace aimass::auth {

using storage::Rows;
using storage::Tx;
using storage::Value;

struct AuthStore::Cache {
  using Clock = std::chrono::steady_clock;
  template <typename T>
  struct Entry {
    Clock::time_point at;
    T value;
  };
  std::mutex mu;
  // Bumped by every write. A reader notes it before querying and stores its answer only if it
  // is unchanged, so an answer read before a write's commit never lands after the clearing.
  // Changed under `mu`; atomic so that Generation(), asked on every authenticated request,
  // reads it without the lock.
  std::atomic<uint64_t> generation = 0;
  std::unordered_map<int64_t, Entry<User>> users;
  std::map<std::vector<std::string>, Entry<std::vector<std::string>>> permissions;
  std::unordered_map<std::string, Entry<ApiKeyRecord>> api_keys;

  template <typename Map, typename Key>
  bool Get(Map& map, const Key& key, decltype(map.begin()->second.value)& out, uint64_t& gen,
           Clock::time_point* read_at = nullptr) {
    std::lock_guard lock(mu);
    gen = generation;
    auto it = map.find(key);
    if (it == map.end() || Clock::now() - it->second.at > AuthStore::kCacheTtl) return false;
    out = it->second.value;
    if (read_at != nullptr) *read_at = std::min(*read_at, it->second.at);
    return true;
  }
  template <typename Map, typename Key, typename T>
  void Put(Map& map, const Key& key, const T& value, uint64_t gen) {
    std::lock_guard lock(mu);
    if (gen != generation) return;
    if (map.size() > 10000) map.clear();  // bounded; refilled on demand
    map[key] = {Clock::now(), value};
  }
  void Clear() {
    std::lock_guard lock(mu);
    generation.fetch_add(1, std::memory_order_release);
    users.clear();
    permissions.clear();
    api_keys.clear();
  }
};

class AuthStore::Invalidation {
 public:
  explicit Invalidation(Cache& c) : c_(c) {}
  ~Invalidation() { c_.Clear(); }
  Invalidation(const Invalidation&) = delete;
  Invalidation& operator=(const Invalidation&) = delete;

 private:
  Cache& c_;
};

AuthStore::AuthStore(storage::Db& db) : db_(db), cache_(std::make_shared<Cache>()) {}

std::vector<storage::Migration> AuthStore::Migrations() {
  return {
      {"auth", 1, R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  token_generation INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE roles (
  name TEXT PRIMARY KEY,
  permissions TEXT NOT NULL,
  builtin INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE user_roles (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL REFERENCES roles(name),
  PRIMARY KEY (user_id, role)
);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_user ON api_keys(user_id);
CREATE TABLE revoked_tokens (
  jti TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  route TEXT NOT NULL,
  status INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  remote TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log(actor, id);
)sql"},
  };
}

namespace {

Result<std::vector<std::string>> RolesOf(Tx* tx, storage::Db* db, int64_t user_id) {
  const std::string sql = "SELECT role FROM user_roles WHERE user_id = ? ORDER BY role";
  auto rows = tx ? tx->Query(sql, {user_id}) : db->Query(sql, {user_id});
  if (!rows.ok()) return rows.status();
  std::vector<std::string> roles;
  for (const auto& r : *rows) roles.push_back(r.Text(0));
  return roles;
}

constexpr const char* kUserColumns = "id, username, password_hash, token_generation, created_at";

User UserFromRow(const storage::Row& r) {
  User u;
  u.id = r.Int(0);
  u.username = r.Text(1);
  u.password_hash = r.Text(2);
  u.token_generation = r.Int(3);
  u.created_at = r.Int(4);
  return u;
}

constexpr const char* kKeyColumns =
    "k.id, k.user_id, u.username, k.name, k.secret_hash, k.created_at, k.expires_at, "
    "k.last_used_at, k.revoked_at";

ApiKeyRecord KeyFromRow(const storage::Row& r) {
  return ApiKeyRecord{r.Text(0), r.Int(1), r.Text(2), r.Text(3), r.Text(4),
                      r.Int(5),  r.Int(6), r.Int(7),  r.Int(8)};
}

}  // namespace

Status AuthStore::UpsertBuiltinRoles(const std::vector<Role>& roles) {
  Invalidation invalidation(*cache_);
  return db_.Transaction([&](Tx& tx) -> Status {
    for (const Role& r : roles) {
      AIMASS_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO roles (name, permissions, builtin, created_at) VALUES (?, ?, 1, ?) "
                  "ON CONFLICT(name) DO UPDATE SET permissions = excluded.permissions, builtin = 1",
                  {r.name, StringListToJson(r.permissions), UnixNow()})
              .status());
    }
    return Status::Ok();
  });
}

Result<int64_t> AuthStore::CountUsers() {
  auto rows = db_.Query("SELECT COUNT(*) FROM users");
  if (!rows.ok()) return rows.status();
  return (*rows)[0].Int(0);
}

Status AuthStore::CheckRolesExist(Tx& tx, const std::vector<std::string>& roles) {
  for (const auto& role : roles) {
    auto rows = tx.Query("SELECT 1 FROM roles WHERE name = ?", {role});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::BadRequest("unknown role '" + role.substr(0, 64) + "'");
  }
  return Status::Ok();
}

Status AuthStore::CheckAdminRemains(Tx& tx) {
  auto rows = tx.Query("SELECT COUNT(*) FROM user_roles WHERE role = 'admin'");
  if (!rows.ok()) return rows.status();
  if ((*rows)[0].Int(0) == 0) return Status::Conflict("the last admin cannot be removed");
  return Status::Ok();
}

Result<User> AuthStore::InsertUser(const std::string& username, const std::string& password_hash,
                                   const std::vector<std::string>& roles) {
  Invalidation invalidation(*cache_);
  User user;
  Status st = db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(CheckRolesExist(tx, roles));
    auto exists = tx.Query("SELECT 1 FROM users WHERE username = ?", {username});
    if (!exists.ok()) return exists.status();
    if (!exists->empty()) return Status::Conflict("user '" + username + "' already exists");
    int64_t now = UnixNow();
    // SQLite may give a deleted user's id to the next user; a random first generation means
    // a token of the deleted user (uid, gen) cannot match the newcomer.
    uint64_t gen = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&gen), sizeof gen);
    user.token_generation = static_cast<int64_t>(gen >> 2);
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO users (username, password_hash, token_generation, "
                                   "created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                                   {username, password_hash, user.token_generation, now, now})
                               .status());
    user.id = tx.LastInsertId();
    user.username = username;
    user.password_hash = password_hash;
    user.created_at = now;
    std::set<std::string> unique(roles.begin(), roles.end());
    for (const auto& role : unique) {
      AIMASS_RETURN_IF_ERROR(
          tx.Exec("INSERT INTO user_roles (user_id, role) VALUES (?, ?)", {user.id, role}).status());
    }
    user.roles.assign(unique.begin(), unique.end());
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return user;
}

Result<User> AuthStore::FindUser(const std::string& username) {
  auto rows = db_.Query(std::string("SELECT ") + kUserColumns + " FROM users WHERE username = ?",
                        {username});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound("no user '" + username.substr(0, 64) + "'");
  User u = UserFromRow((*rows)[0]);
  AIMASS_ASSIGN_OR_RETURN(u.roles, RolesOf(nullptr, &db_, u.id));
  return u;
}

Result<User> AuthStore::FindUserById(int64_t id, std::chrono::steady_clock::time_point* read_at) {
  User cached;
  uint64_t gen = 0;
  if (cache_->Get(cache_->users, id, cached, gen, read_at)) return cached;
  if (read_at != nullptr) *read_at = std::min(*read_at, Cache::Clock::now());
  auto rows = db_.Query(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?", {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound("no such user");
  User u = UserFromRow((*rows)[0]);
  AIMASS_ASSIGN_OR_RETURN(u.roles, RolesOf(nullptr, &db_, u.id));
  cache_->Put(cache_->users, id, u, gen);
  return u;
}

Result<std::vector<User>> AuthStore::ListUsers(int64_t offset, int64_t limit) {
  auto rows = db_.Query(std::string("SELECT ") + kUserColumns +
                            " FROM users ORDER BY username LIMIT ? OFFSET ?",
                        {limit, offset});
  if (!rows.ok()) return rows.status();
  std::vector<User> users;
  for (const auto& r : *rows) {
    User u = UserFromRow(r);
    AIMASS_ASSIGN_OR_RETURN(u.roles, RolesOf(nullptr, &db_, u.id));
    users.push_back(std::move(u));
  }
  return users;
}

Status AuthStore::UpdateUser(const std::string& username,
                             const std::optional<std::string>& password_hash,
                             const std::optional<std::vector<std::string>>& roles) {
  Invalidation invalidation(*cache_);
  return db_.Transaction([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT id FROM users WHERE username = ?", {username});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::NotFound("no user '" + username + "'");
    int64_t id = (*rows)[0].Int(0);
    if (password_hash) {
      // A new password ends the sessions opened with the old one, in the same transaction.
      AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE users SET password_hash = ?, updated_at = ?, "
                                     "token_generation = token_generation + 1 WHERE id = ?",
                                     {*password_hash, UnixNow(), id})
                                 .status());
    }
    if (roles) {
      AIMASS_RETURN_IF_ERROR(CheckRolesExist(tx, *roles));
      AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM user_roles WHERE user_id = ?", {id}).status());
      std::set<std::string> unique(roles->begin(), roles->end());
      for (const auto& role : unique) {
        AIMASS_RETURN_IF_ERROR(
            tx.Exec("INSERT INTO user_roles (user_id, role) VALUES (?, ?)", {id, role}).status());
      }
      AIMASS_RETURN_IF_ERROR(CheckAdminRemains(tx));
    }
    return Status::Ok();
  });
}

Status AuthStore::DeleteUser(const std::string& username) {
  Invalidation invalidation(*cache_);
  return db_.Transaction([&](Tx& tx) -> Status {
    auto n = tx.Exec("DELETE FROM users WHERE username = ?", {username});
    if (!n.ok()) return n.status();
    if (*n == 0) return Status::NotFound("no user '" + username + "'");
    return CheckAdminRemains(tx);
  });
}

Status AuthStore::BumpTokenGeneration(const std::string& username) {
  Invalidation invalidation(*cache_);
  auto n = db_.Exec("UPDATE users SET token_generation = token_generation + 1 WHERE username = ?",
                    {username});
  if (!n.ok()) return n.status();
  if (*n == 0) return Status::NotFound("no user '" + username + "'");
  return Status::Ok();
}

Result<std::vector<Role>> AuthStore::ListRoles() {
  auto rows = db_.Query("SELECT name, permissions, builtin FROM roles ORDER BY name");
  if (!rows.ok()) return rows.status();
  std::vector<Role> roles;
  for (const auto& r : *rows) roles.push_back({r.Text(0), StringListFromJson(r.Text(1)), r.Int(2) != 0});
  return roles;
}

Result<Role> AuthStore::FindRole(const std::string& name) {
  auto rows = db_.Query("SELECT name, permissions, builtin FROM roles WHERE name = ?", {name});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound("no role '" + name.substr(0, 64) + "'");
  const auto& r = (*rows)[0];
  return Role{r.Text(0), StringListFromJson(r.Text(1)), r.Int(2) != 0};
}

Status AuthStore::InsertRole(const Role& role) {
  Invalidation invalidation(*cache_);
  return db_.Transaction([&](Tx& tx) -> Status {
    auto exists = tx.Query("SELECT 1 FROM roles WHERE name = ?", {role.name});
    if (!exists.ok()) return exists.status();
    if (!exists->empty()) return Status::Conflict("role '" + role.name + "' already exists");
    return tx.Exec("INSERT INTO roles (name, permissions, builtin, created_at) VALUES (?, ?, 0, ?)",
                   {role.name, StringListToJson(role.permissions), UnixNow()})
        .status();
  });
}

Status AuthStore::UpdateRole(const Role& role) {
  Invalidation invalidation(*cache_);
  return db_.Transaction([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT builtin FROM roles WHERE name = ?", {role.name});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::NotFound("no role '" + role.name + "'");
    if ((*rows)[0].Int(0) != 0) return Status::Conflict("built-in roles cannot be changed");
    return tx.Exec("UPDATE roles SET permissions = ? WHERE name = ?",
                   {StringListToJson(role.permissions), role.name})
        .status();
  });
}

Status AuthStore::DeleteRole(const std::string& name) {
  Invalidation invalidation(*cache_);
  return db_.Transaction([&](Tx& tx) -> Status {
    auto rows = tx.Query("SELECT builtin FROM roles WHERE name = ?", {name});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Status::NotFound("no role '" + name + "'");
    if ((*rows)[0].Int(0) != 0) return Status::Conflict("built-in roles cannot be deleted");
    auto used = tx.Query("SELECT COUNT(*) FROM user_roles WHERE role = ?", {name});
    if (!used.ok()) return used.status();
    if ((*used)[0].Int(0) > 0) return Status::Conflict("role '" + name + "' is still assigned");
    return tx.Exec("DELETE FROM roles WHERE name = ?", {name}).status();
  });
}

Result<std::vector<std::string>> AuthStore::PermissionsOf(const std::vector<std::string>& roles,
                                                          std::chrono::steady_clock::time_point* read_at) {
  std::vector<std::string> cached;
  uint64_t gen = 0;
  if (cache_->Get(cache_->permissions, roles, cached, gen, read_at)) return cached;
  if (read_at != nullptr) *read_at = std::min(*read_at, Cache::Clock::now());
  std::set<std::string> perms;
  for (const auto& role : roles) {
    auto rows = db_.Query("SELECT permissions FROM roles WHERE name = ?", {role});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) continue;
    for (auto& p : StringListFromJson((*rows)[0].Text(0))) perms.insert(std::move(p));
  }
  std::vector<std::string> out(perms.begin(), perms.end());
  cache_->Put(cache_->permissions, roles, out, gen);
  return out;
}

uint64_t AuthStore::Generation() const { return cache_->generation.load(std::memory_order_acquire); }

Status AuthStore::InsertApiKey(const ApiKeyRecord& k) {
  Invalidation invalidation(*cache_);
  return db_.Exec("INSERT INTO api_keys (id, user_id, name, secret_hash, created_at, expires_at) "
                  "VALUES (?, ?, ?, ?, ?, ?)",
                  {k.id, k.user_id, k.name, k.secret_hash, k.created_at, k.expires_at})
      .status();
}

Result<ApiKeyRecord> AuthStore::FindApiKey(const std::string& id) {
  ApiKeyRecord cached;
  uint64_t gen = 0;
  if (cache_->Get(cache_->api_keys, id, cached, gen)) return cached;
  auto rows = db_.Query(std::string("SELECT ") + kKeyColumns +
                            " FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = ?",
                        {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return Status::NotFound("no API key '" + id.substr(0, 64) + "'");
  ApiKeyRecord k = KeyFromRow((*rows)[0]);
  cache_->Put(cache_->api_keys, id, k, gen);
  return k;
}

Result<std::vector<ApiKeyRecord>> AuthStore::ListApiKeys(std::optional<int64_t> user_id) {
  std::string sql = std::string("SELECT ") + kKeyColumns +
                    " FROM api_keys k JOIN users u ON u.id = k.user_id";
  std::vector<Value> params;
  if (user_id) {
    sql += " WHERE k.user_id = ?";
    params.emplace_back(*user_id);
  }
  sql += " ORDER BY k.created_at, k.id";
  auto rows = db_.Query(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<ApiKeyRecord> out;
  for (const auto& r : *rows) out.push_back(KeyFromRow(r));
  return out;
}

Status AuthStore::RevokeApiKey(const std::string& id, int64_t now) {
  Invalidation invalidation(*cache_);
  auto n = db_.Exec("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0", {now, id});
  if (!n.ok()) return n.status();
  if (*n == 0) return Status::NotFound("no live API key '" + id + "'");
  return Status::Ok();
}

Status AuthStore::TouchApiKey(const std::string& id, int64_t now) {
  Invalidation invalidation(*cache_);
  return db_.Exec("UPDATE api_keys SET last_used_at = ? WHERE id = ?", {now, id}).status();
}

Status AuthStore::RevokeToken(const std::string& jti, int64_t expires_at) {
  return db_.Transaction([&](Tx& tx) -> Status {
    // Expired entries can go: an expired token is rejected on its own.
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM revoked_tokens WHERE expires_at < ?", {UnixNow()}).status());
    return tx.Exec("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT(jti) DO NOTHING",
                   {jti, expires_at})
        .status();
  });
}

Result<std::vector<std::pair<std::string, int64_t>>> AuthStore::LiveRevokedTokens(int64_t now) {
  auto rows = db_.Query("SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= ?", {now});
  if (!rows.ok()) return rows.status();
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& r : *rows) out.emplace_back(r.Text(0), r.Int(1));
  return out;
}

Status AuthStore::InsertAudit(const AuditEntry& e) {
  return db_.Exec("INSERT INTO audit_log (time_ms, actor, method, path, route, status, request_id, "
                  "remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  {e.time_ms, e.actor, e.method, e.path, e.route, int64_t{e.status}, e.request_id,
                   e.remote})
      .status();
}

Result<std::vector<AuditEntry>> AuthStore::ListAudit(const std::optional<std::string>& actor,
                                                     int64_t offset, int64_t limit) {
  std::string sql =
      "SELECT id, time_ms, actor, method, path, route, status, request_id, remote FROM audit_log";
  std::vector<Value> params;
  if (actor) {
    sql += " WHERE actor = ?";
    params.emplace_back(*actor);
  }
  sql += " ORDER BY id DESC LIMIT ? OFFSET ?";
  params.emplace_back(limit);
  params.emplace_back(offset);
  auto rows = db_.Query(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<AuditEntry> out;
  for (const auto& r : *rows) {
    out.push_back({r.Int(0), r.Int(1), r.Text(2), r.Text(3), r.Text(4), r.Text(5),
                   static_cast<int>(r.Int(6)), r.Text(7), r.Text(8)});
  }
  return out;
}

}  // namespace aimass::auth
