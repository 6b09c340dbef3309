// AuthService: users, roles, API keys, login tokens and the audit log. It authenticates a
// bearer credential into a Principal with the user's current roles (so a role change or a
// deleted user takes effect at once, whatever the token says) and answers the one
// authorisation question through rbac::Allows. No HTTP in here. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/jwt.hpp"
#include "common/principal.hpp"
#include "auth/rbac.hpp"
#include "auth/store.hpp"
#include "common/status.hpp"

namespace aimass::auth {

struct AuthOptions {
  JwtKeys keys;
  std::string issuer = "aimass";
  int64_t token_ttl_s = 3600;
  std::string admin_password;  // first start only
};

struct LoginResult {
  std::string access_token;
  int64_t expires_in = 0;
};

struct NewApiKey {
  ApiKeyRecord record;
  std::string key;  // shown once
};

class AuthService {
 public:
  AuthService(storage::Db& db, std::unique_ptr<Jwt> jwt, AuthOptions options);

  static std::vector<storage::Migration> Migrations() { return AuthStore::Migrations(); }

  // Refreshes the built-in roles and, when there are no users, creates `admin`. Returns the
  // generated admin password when one had to be made up (to print once), else nullopt.
  Result<std::optional<std::string>> Bootstrap();

  Result<LoginResult> Login(const std::string& username, const std::string& password);
  // A token acting as `username` with the roles the user has now, for work done on a user's
  // behalf without their password (the scheduler's HTTP targets). Short-lived by intent.
  Result<std::string> IssueServiceToken(const std::string& username, int64_t ttl_s);
  // The principal `username` would have if they signed in now (current roles); NotFound when
  // the user is gone.
  Result<Principal> PrincipalOf(const std::string& username);
  // Accepts a JWT or an API key (amk_…). The principal is shared: a login token's is built once
  // and handed to each of its requests while it is current (see VerifiedToken).
  Result<std::shared_ptr<const Principal>> Authenticate(std::string_view credential);
  Status Logout(const Principal& principal);
  Status RevokeUserTokens(const std::string& username);

  bool Authorize(const Principal& principal, std::string_view permission) const {
    return Allows(principal.permissions, permission);
  }

  Result<User> CreateUser(const std::string& username, const std::string& password,
                          const std::vector<std::string>& roles);
  Result<std::vector<User>> ListUsers(int64_t offset, int64_t limit);
  Result<User> GetUser(const std::string& username);
  Result<User> UpdateUser(const std::string& username, const std::optional<std::string>& password,
                          const std::optional<std::vector<std::string>>& roles);
  Status DeleteUser(const std::string& username);

  Result<std::vector<Role>> ListRoles();
  Result<Role> GetRole(const std::string& name);
  Result<Role> CreateRole(const std::string& name, const std::vector<std::string>& permissions);
  Result<Role> UpdateRole(const std::string& name, const std::vector<std::string>& permissions);
  Status DeleteRole(const std::string& name);

  Result<NewApiKey> CreateApiKey(const Principal& owner, const std::string& name,
                                 std::optional<int64_t> expires_in_days);
  // Keys of `owner`, or of everyone when owner is nullopt.
  Result<std::vector<ApiKeyRecord>> ListApiKeys(std::optional<int64_t> owner);
  // Revokes a key; a key of another user needs `users:write`.
  Status RevokeApiKey(const Principal& actor, const std::string& id);

  Status RecordAudit(const AuditEntry& entry) { return store_.InsertAudit(entry); }
  Result<std::vector<AuditEntry>> ListAudit(const std::optional<std::string>& actor,
                                            int64_t offset, int64_t limit) {
    return store_.ListAudit(actor, offset, limit);
  }

 private:
  // `read_at` as in AuthStore::PermissionsOf.
  Result<Principal> PrincipalFor(const User& user, std::string method, std::string token_id,
                                 int64_t expires_at, std::chrono::steady_clock::time_point* read_at = nullptr);
  Result<Principal> AuthenticateApiKey(std::string_view key);
  Result<std::string> SignToken(const User& user, int64_t ttl_s);

  // The claims of a login token that passed Jwt::Verify.
  struct TokenClaims {
    std::string jti;
    std::string sub;
    int64_t uid = 0;
    int64_t gen = 0;
    int64_t exp = 0;
  };
  // Verifies once per token: the signature check (an RS256 verify costs tens of µs, HS256 and
  // the two JSON parses a few) is remembered until the token expires. Revocation is checked on
  // every call by the caller, not cached here.
  Result<TokenClaims> VerifyToken(std::string_view token);
  bool IsRevoked(const std::string& jti) const;
  struct VerifiedToken {
    TokenClaims claims;
    // The principal last built for the token (its user and role permissions copied: a dozen
    // strings), reused while the store's generation is unchanged and until `fresh_until`, a
    // cache TTL after the oldest answer it was built from, so that it is exactly as current as
    // the store's own answers would be.
    std::shared_ptr<const Principal> principal;
    uint64_t store_generation = 0;
    std::chrono::steady_clock::time_point fresh_until;
  };
  // Lets the map be searched with the request's string_view (no copy of the token).
  struct TokenHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex verified_mu_;
  std::unordered_map<std::string, VerifiedToken, TokenHash, std::equal_to<>> verified_;

  AuthStore store_;
  std::unique_ptr<Jwt> jwt_;
  AuthOptions options_;
  void RememberRevoked(const std::string& jti, int64_t expires_at);

  mutable std::mutex revoked_mu_;
  // JTI -> exp, mirrored from revoked_tokens; an entry is dropped once its token has expired
  // anyway, so the set stays as small as the number of live revoked tokens.
  std::unordered_map<std::string, int64_t> revoked_;
};

// Names of users and roles: [a-z0-9][a-z0-9._-]{0,63}.
Status ValidateName(std::string_view kind, std::string_view name);

}  // namespace aimass::auth
