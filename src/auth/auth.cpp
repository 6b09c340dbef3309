#include "auth/auth.hpp"

#include <openssl/crypto.h>

#include <ctime>

#include "auth/password.hpp"
#include "common/name.hpp"
#include "common/sha256.hpp"
#include "common/time.hpp"

namespace aimass::auth {

namespace {

constexpr std::string_view kApiKeyPrefix = "amk_";
constexpr size_t kMinPassword = 8;
constexpr size_t kMaxPassword = 1024;

Status ValidatePassword(const std::string& password) {
  if (password.size() < kMinPassword) {
    return Status::BadRequest("password must have at least " + std::to_string(kMinPassword) +
                              " characters");
  }
  if (password.size() > kMaxPassword) return Status::BadRequest("password is too long");
  return Status::Ok();
}

}  // namespace

Status ValidateName(std::string_view kind, std::string_view name) {
  return aimass::ValidateName(kind, name, 64);
}

AuthService::AuthService(storage::Db& db, std::unique_ptr<Jwt> jwt, AuthOptions options)
    : store_(db), jwt_(std::move(jwt)), options_(std::move(options)) {}

Result<std::optional<std::string>> AuthService::Bootstrap() {
  AIMASS_RETURN_IF_ERROR(store_.UpsertBuiltinRoles(BuiltinRoles()));
  {
    auto revoked = store_.LiveRevokedTokens(UnixNow());
    if (!revoked.ok()) return revoked.status();
    for (const auto& [jti, exp] : *revoked) RememberRevoked(jti, exp);
  }
  AIMASS_ASSIGN_OR_RETURN(int64_t users, store_.CountUsers());
  if (users > 0) return std::optional<std::string>{};
  std::optional<std::string> generated;
  std::string password = options_.admin_password;
  if (password.empty()) {
    password = RandomToken(24);
    generated = password;
  }
  AIMASS_RETURN_IF_ERROR(ValidatePassword(password));
  AIMASS_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  AIMASS_RETURN_IF_ERROR(store_.InsertUser("admin", hash, {"admin"}).status());
  return generated;
}

Result<LoginResult> AuthService::Login(const std::string& username, const std::string& password) {
  const Status denied = Status::Unauthenticated("wrong username or password");
  auto user = store_.FindUser(username);
  if (!user.ok()) {
    if (user.status().code() != Code::kNotFound) return user.status();
    // Spend the same time as a real check so that response times do not reveal which
    // usernames exist.
    static const std::string kDummy = HashPassword("not-a-real-password").value();
    (void)VerifyPassword(password, kDummy);
    return denied;
  }
  if (!VerifyPassword(password, user->password_hash)) return denied;
  AIMASS_ASSIGN_OR_RETURN(std::string token, SignToken(*user, options_.token_ttl_s));
  return LoginResult{std::move(token), options_.token_ttl_s};
}

Result<std::string> AuthService::SignToken(const User& user, int64_t ttl_s) {
  int64_t now = UnixNow();
  nlohmann::json claims = {{"sub", user.username}, {"uid", user.id},
                           {"roles", user.roles},  {"gen", user.token_generation},
                           {"iat", now},           {"exp", now + ttl_s},
                           {"jti", RandomToken(16)}};
  return jwt_->Sign(claims);
}

Result<std::string> AuthService::IssueServiceToken(const std::string& username, int64_t ttl_s) {
  AIMASS_ASSIGN_OR_RETURN(User user, store_.FindUser(username));
  return SignToken(user, ttl_s);
}

Result<Principal> AuthService::PrincipalOf(const std::string& username) {
  AIMASS_ASSIGN_OR_RETURN(User user, store_.FindUser(username));
  return PrincipalFor(user, "service", "", 0);
}

Result<Principal> AuthService::PrincipalFor(const User& user, std::string method, std::string token_id,
                                            int64_t expires_at, std::chrono::steady_clock::time_point* read_at) {
  Principal p;
  p.user_id = user.id;
  p.username = user.username;
  p.roles = user.roles;
  AIMASS_ASSIGN_OR_RETURN(p.permissions, store_.PermissionsOf(user.roles, read_at));
  p.method = std::move(method);
  p.token_id = std::move(token_id);
  p.token_expires_at = expires_at;
  return p;
}

Result<AuthService::TokenClaims> AuthService::VerifyToken(std::string_view token) {
  int64_t now = UnixNow();
  {
    std::lock_guard lock(verified_mu_);
    auto it = verified_.find(token);
    if (it != verified_.end()) {
      if (it->second.claims.exp > now) return it->second.claims;
      verified_.erase(it);
      return Status::Unauthenticated("token expired");
    }
  }
  AIMASS_ASSIGN_OR_RETURN(nlohmann::json claims, jwt_->Verify(token, now));
  auto jti = claims.find("jti");
  auto uid = claims.find("uid");
  auto gen = claims.find("gen");
  auto sub = claims.find("sub");
  auto exp = claims.find("exp");
  if (jti == claims.end() || !jti->is_string() || uid == claims.end() || !uid->is_number_integer() ||
      gen == claims.end() || !gen->is_number_integer() || sub == claims.end() || !sub->is_string() ||
      !exp->is_number()) {
    return Status::Unauthenticated("invalid token");
  }
  TokenClaims c{jti->get<std::string>(), sub->get<std::string>(), uid->get<int64_t>(), gen->get<int64_t>(),
                static_cast<int64_t>(exp->get<double>())};
  std::lock_guard lock(verified_mu_);
  if (verified_.size() >= 10000) {
    std::erase_if(verified_, [now](const auto& e) { return e.second.claims.exp <= now; });
    if (verified_.size() >= 10000) verified_.clear();  // bounded; refilled on demand
  }
  verified_.emplace(std::string(token), VerifiedToken{c, nullptr, 0, {}});
  return c;
}

bool AuthService::IsRevoked(const std::string& jti) const {
  std::lock_guard lock(revoked_mu_);
  return revoked_.count(jti) != 0;
}

Result<std::shared_ptr<const Principal>> AuthService::Authenticate(std::string_view credential) {
  if (credential.starts_with(kApiKeyPrefix)) {
    AIMASS_ASSIGN_OR_RETURN(Principal p, AuthenticateApiKey(credential));
    return std::make_shared<const Principal>(std::move(p));
  }
  {
    // The usual case: a token seen before, whose principal is still current and not revoked.
    std::lock_guard lock(verified_mu_);
    auto it = verified_.find(credential);
    if (it != verified_.end() && it->second.principal != nullptr && it->second.claims.exp > UnixNow() &&
        it->second.store_generation == store_.Generation() &&
        std::chrono::steady_clock::now() < it->second.fresh_until && !IsRevoked(it->second.claims.jti)) {
      return it->second.principal;
    }
  }
  AIMASS_ASSIGN_OR_RETURN(TokenClaims claims, VerifyToken(credential));
  if (IsRevoked(claims.jti)) return Status::Unauthenticated("token revoked");
  // Noted before the reads: a write in between makes the principal built here stale at once.
  const uint64_t generation = store_.Generation();
  auto read_at = std::chrono::steady_clock::time_point::max();
  auto user = store_.FindUserById(claims.uid, &read_at);
  if (!user.ok()) {
    if (user.status().code() == Code::kNotFound) return Status::Unauthenticated("user no longer exists");
    return user.status();
  }
  if (user->token_generation != claims.gen) return Status::Unauthenticated("token revoked");
  if (claims.sub != user->username) return Status::Unauthenticated("invalid token");
  AIMASS_ASSIGN_OR_RETURN(Principal p, PrincipalFor(*user, "jwt", claims.jti, claims.exp, &read_at));
  auto shared = std::make_shared<const Principal>(std::move(p));
  std::lock_guard lock(verified_mu_);
  if (auto it = verified_.find(credential); it != verified_.end()) {
    it->second.principal = shared;
    it->second.store_generation = generation;
    it->second.fresh_until = read_at + AuthStore::kCacheTtl;
  }
  return shared;
}

Result<Principal> AuthService::AuthenticateApiKey(std::string_view key) {
  const Status invalid = Status::Unauthenticated("invalid API key");
  // amk_<id>_<secret>
  std::string_view rest = key.substr(kApiKeyPrefix.size());
  size_t sep = rest.find('_');
  if (sep == std::string_view::npos || sep == 0 || sep > 32 || rest.size() > 256) return invalid;
  std::string id(rest.substr(0, sep));
  std::string_view secret = rest.substr(sep + 1);
  auto rec = store_.FindApiKey(id);
  if (!rec.ok()) return rec.status().code() == Code::kNotFound ? invalid : rec.status();
  std::string hash = Sha256Hex(secret);
  if (hash.size() != rec->secret_hash.size() ||
      CRYPTO_memcmp(hash.data(), rec->secret_hash.data(), hash.size()) != 0) {
    return invalid;
  }
  int64_t now = UnixNow();
  if (rec->revoked_at != 0) return Status::Unauthenticated("API key revoked");
  if (rec->expires_at != 0 && rec->expires_at <= now) return Status::Unauthenticated("API key expired");
  // last_used_at to the minute: a write per request would serialise every API-key call.
  if (now - rec->last_used_at >= 60) (void)store_.TouchApiKey(rec->id, now);
  AIMASS_ASSIGN_OR_RETURN(User user, store_.FindUserById(rec->user_id));
  return PrincipalFor(user, "apikey", rec->id, rec->expires_at);
}

Status AuthService::Logout(const Principal& principal) {
  if (principal.method != "jwt") return Status::BadRequest("only login tokens can be logged out; revoke API keys instead");
  AIMASS_RETURN_IF_ERROR(store_.RevokeToken(principal.token_id, principal.token_expires_at));
  RememberRevoked(principal.token_id, principal.token_expires_at);
  return Status::Ok();
}

void AuthService::RememberRevoked(const std::string& jti, int64_t expires_at) {
  std::lock_guard lock(revoked_mu_);
  int64_t now = UnixNow();
  std::erase_if(revoked_, [now](const auto& e) { return e.second < now; });
  revoked_[jti] = expires_at;
}

Status AuthService::RevokeUserTokens(const std::string& username) {
  return store_.BumpTokenGeneration(username);
}

Result<User> AuthService::CreateUser(const std::string& username, const std::string& password,
                                     const std::vector<std::string>& roles) {
  AIMASS_RETURN_IF_ERROR(ValidateName("user", username));
  AIMASS_RETURN_IF_ERROR(ValidatePassword(password));
  AIMASS_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  return store_.InsertUser(username, hash, roles);
}

Result<std::vector<User>> AuthService::ListUsers(int64_t offset, int64_t limit) {
  return store_.ListUsers(offset, limit);
}

Result<User> AuthService::GetUser(const std::string& username) { return store_.FindUser(username); }

Result<User> AuthService::UpdateUser(const std::string& username,
                                     const std::optional<std::string>& password,
                                     const std::optional<std::vector<std::string>>& roles) {
  std::optional<std::string> hash;
  if (password) {
    AIMASS_RETURN_IF_ERROR(ValidatePassword(*password));
    AIMASS_ASSIGN_OR_RETURN(hash, HashPassword(*password));
  }
  AIMASS_RETURN_IF_ERROR(store_.UpdateUser(username, hash, roles));
  return store_.FindUser(username);
}

Status AuthService::DeleteUser(const std::string& username) { return store_.DeleteUser(username); }

Result<std::vector<Role>> AuthService::ListRoles() { return store_.ListRoles(); }
Result<Role> AuthService::GetRole(const std::string& name) { return store_.FindRole(name); }

Result<Role> AuthService::CreateRole(const std::string& name,
                                     const std::vector<std::string>& permissions) {
  AIMASS_RETURN_IF_ERROR(ValidateName("role", name));
  for (const auto& p : permissions) AIMASS_RETURN_IF_ERROR(ValidatePermission(p));
  Role role{name, permissions, false};
  AIMASS_RETURN_IF_ERROR(store_.InsertRole(role));
  return role;
}

Result<Role> AuthService::UpdateRole(const std::string& name,
                                     const std::vector<std::string>& permissions) {
  for (const auto& p : permissions) AIMASS_RETURN_IF_ERROR(ValidatePermission(p));
  Role role{name, permissions, false};
  AIMASS_RETURN_IF_ERROR(store_.UpdateRole(role));
  return role;
}

Status AuthService::DeleteRole(const std::string& name) { return store_.DeleteRole(name); }

Result<NewApiKey> AuthService::CreateApiKey(const Principal& owner, const std::string& name,
                                            std::optional<int64_t> expires_in_days) {
  if (name.empty() || name.size() > 128) return Status::BadRequest("API key name must have 1 to 128 characters");
  if (expires_in_days && (*expires_in_days < 1 || *expires_in_days > 3650)) {
    return Status::BadRequest("expires_in_days must be from 1 to 3650");
  }
  NewApiKey out;
  // The id is public (it is how a key is listed and revoked); the secret is 256 random bits
  // and only its sha256 is stored. A fast hash is enough for a secret of that entropy, and
  // argon2 on every API call would cost tens of milliseconds.
  std::string id_raw = RandomToken(12);
  for (char& c : id_raw) {
    if (c == '_' || c == '-') c = 'x';  // '_' separates id from secret
  }
  std::string secret = RandomToken(43);
  int64_t now = UnixNow();
  out.record.id = id_raw;
  out.record.user_id = owner.user_id;
  out.record.owner = owner.username;
  out.record.name = name;
  out.record.secret_hash = Sha256Hex(secret);
  out.record.created_at = now;
  out.record.expires_at = expires_in_days ? now + *expires_in_days * 86400 : 0;
  AIMASS_RETURN_IF_ERROR(store_.InsertApiKey(out.record));
  out.key = std::string(kApiKeyPrefix) + id_raw + "_" + secret;
  return out;
}

Result<std::vector<ApiKeyRecord>> AuthService::ListApiKeys(std::optional<int64_t> owner) {
  return store_.ListApiKeys(owner);
}

Status AuthService::RevokeApiKey(const Principal& actor, const std::string& id) {
  auto rec = store_.FindApiKey(id);
  if (!rec.ok()) return rec.status();
  if (rec->user_id != actor.user_id && !Authorize(actor, "users:write")) {
    // Someone else's key is reported as absent, so ids cannot be probed.
    return Status::NotFound("no API key '" + id.substr(0, 64) + "'");
  }
  return store_.RevokeApiKey(id, UnixNow());
}

}  // namespace aimass::auth
