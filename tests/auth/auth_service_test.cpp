// AuthService over an in-memory SQLite: bootstrap, login, users and roles, tokens and API keys.
#include "test_db.hpp"
#include "auth/auth.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "auth/jwt.hpp"
#include "auth/rbac.hpp"
#include "storage/db.hpp"

namespace aimass::auth {
namespace {

TEST(AuthNamesTest, ValidateName) {
  EXPECT_TRUE(ValidateName("user", "alice").ok());
  EXPECT_TRUE(ValidateName("user", "a1.b_c-d").ok());
  EXPECT_TRUE(ValidateName("user", "9lives").ok());
  EXPECT_FALSE(ValidateName("user", "").ok());
  EXPECT_FALSE(ValidateName("user", "Alice").ok());
  EXPECT_FALSE(ValidateName("user", "-alice").ok());
  EXPECT_FALSE(ValidateName("user", ".alice").ok());
  EXPECT_FALSE(ValidateName("user", "al ice").ok());
  EXPECT_FALSE(ValidateName("user", "al/ice").ok());
  EXPECT_TRUE(ValidateName("user", std::string(64, 'a')).ok());
  EXPECT_FALSE(ValidateName("user", std::string(65, 'a')).ok());
}

constexpr char kSecret[] = "unit-test-secret-unit-test-secret-0123456789";
constexpr char kAdminPassword[] = "admin-password-1";

class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = aimass::testing::OpenTestDb();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Migrate(AuthService::Migrations()).ok());
    auth_ = NewService(kAdminPassword);
    auto boot = auth_->Bootstrap();
    ASSERT_TRUE(boot.ok()) << boot.status().ToString();
    EXPECT_FALSE(boot->has_value()) << "a password was given; none should be generated";
  }

  std::unique_ptr<AuthService> NewService(const std::string& admin_password) {
    AuthOptions o;
    o.keys = {"HS256", kSecret, "", ""};
    o.admin_password = admin_password;
    auto jwt = Jwt::Create(o.keys, o.issuer);
    EXPECT_TRUE(jwt.ok());
    return std::make_unique<AuthService>(*db_, std::move(jwt).value(), o);
  }

  std::string LoginOrDie(const std::string& user, const std::string& password) {
    auto r = auth_->Login(user, password);
    EXPECT_TRUE(r.ok()) << user << ": " << r.status().ToString();
    if (!r.ok()) return "";
    EXPECT_EQ(r->expires_in, 3600);
    return r->access_token;
  }

  // What a credential authenticates as, copied out of the shared principal.
  static Result<Principal> AuthAs(AuthService& auth, std::string_view credential) {
    AIMASS_ASSIGN_OR_RETURN(std::shared_ptr<const Principal> p, auth.Authenticate(credential));
    return *p;
  }

  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<AuthService> auth_;
};

TEST_F(AuthServiceTest, BootstrapCreatesAdminWithGivenPassword) {
  auto admin = auth_->GetUser("admin");
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  EXPECT_EQ(admin->roles, std::vector<std::string>{"admin"});
  EXPECT_EQ(admin->password_hash.rfind("$argon2id$", 0), 0u) << "stored as an argon2id hash";
  EXPECT_EQ(admin->password_hash.find(kAdminPassword), std::string::npos);

  std::string token = LoginOrDie("admin", kAdminPassword);
  auto p = AuthAs(*auth_, token);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->username, "admin");
  EXPECT_TRUE(auth_->Authorize(*p, "users:write"));

  // Bootstrapping again creates nobody and keeps the password.
  auto again = auth_->Bootstrap();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  auto users = auth_->ListUsers(0, 100);
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->size(), 1u);

  // Built-in roles are in the store.
  auto roles = auth_->ListRoles();
  ASSERT_TRUE(roles.ok());
  EXPECT_EQ(roles->size(), 3u);
}

TEST_F(AuthServiceTest, BootstrapGeneratesPasswordWhenNoneGiven) {
  auto db = storage::OpenSqlite({":memory:"});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Migrate(AuthService::Migrations()).ok());
  AuthOptions o;
  o.keys = {"HS256", kSecret, "", ""};
  AuthService svc(**db, std::move(Jwt::Create(o.keys, o.issuer)).value(), o);
  auto boot = svc.Bootstrap();
  ASSERT_TRUE(boot.ok()) << boot.status().ToString();
  ASSERT_TRUE(boot->has_value());
  EXPECT_GE((*boot)->size(), 16u);
  EXPECT_TRUE(svc.Login("admin", **boot).ok());
}

TEST_F(AuthServiceTest, LoginWrongPasswordAndUnknownUser) {
  auto wrong = auth_->Login("admin", "not-the-password");
  EXPECT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kUnauthenticated);
  auto nobody = auth_->Login("nobody", kAdminPassword);
  EXPECT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.status().code(), Code::kUnauthenticated);
  // Same message for both, so that usernames cannot be probed.
  EXPECT_EQ(wrong.status().message(), nobody.status().message());
}

TEST_F(AuthServiceTest, CreateUserValidation) {
  auto unknown = auth_->CreateUser("alice", "password-123", {"no-such-role"});
  EXPECT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kBadRequest);
  EXPECT_EQ(auth_->GetUser("alice").status().code(), Code::kNotFound);

  auto bad_name = auth_->CreateUser("Alice!", "password-123", {"viewer"});
  EXPECT_EQ(bad_name.status().code(), Code::kBadRequest);
  auto short_pw = auth_->CreateUser("alice", "short", {"viewer"});
  EXPECT_EQ(short_pw.status().code(), Code::kBadRequest);

  auto dup = auth_->CreateUser("admin", "password-123", {"viewer"});
  EXPECT_EQ(dup.status().code(), Code::kConflict);
}

TEST_F(AuthServiceTest, AuthenticateGivesCurrentRolesAndUpdatesApplyToExistingTokens) {
  auto alice = auth_->CreateUser("alice", "alice-password", {"developer"});
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  std::string token = LoginOrDie("alice", "alice-password");

  auto p = AuthAs(*auth_, token);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->username, "alice");
  EXPECT_EQ(p->user_id, alice->id);
  EXPECT_EQ(p->roles, std::vector<std::string>{"developer"});
  EXPECT_EQ(p->method, "jwt");
  EXPECT_FALSE(p->token_id.empty());
  EXPECT_GT(p->token_expires_at, 0);
  EXPECT_TRUE(auth_->Authorize(*p, "models:write"));
  EXPECT_FALSE(auth_->Authorize(*p, "users:write"));

  // Demote: the same token now carries viewer permissions, whatever its claims say.
  auto updated = auth_->UpdateUser("alice", std::nullopt, std::vector<std::string>{"viewer"});
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->roles, std::vector<std::string>{"viewer"});
  auto p2 = AuthAs(*auth_, token);
  ASSERT_TRUE(p2.ok()) << p2.status().ToString();
  EXPECT_EQ(p2->roles, std::vector<std::string>{"viewer"});
  EXPECT_FALSE(auth_->Authorize(*p2, "models:write"));
  EXPECT_TRUE(auth_->Authorize(*p2, "models:read"));

  // Unknown role on update is refused and changes nothing.
  auto bad = auth_->UpdateUser("alice", std::nullopt, std::vector<std::string>{"ghost"});
  EXPECT_EQ(bad.status().code(), Code::kBadRequest);
  EXPECT_EQ(auth_->GetUser("alice")->roles, std::vector<std::string>{"viewer"});

  // Garbage credentials.
  EXPECT_EQ(AuthAs(*auth_, "not-a-token").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(AuthAs(*auth_, "").status().code(), Code::kUnauthenticated);
}

// A login token's principal is built once and shared by its requests, until a write to users or
// roles (or the store's cache TTL) makes it stale; revocation is checked on every call.
TEST_F(AuthServiceTest, ATokenSharesOnePrincipalUntilUsersOrRolesChange) {
  ASSERT_TRUE(auth_->CreateUser("dave", "dave-password", {"developer"}).ok());
  std::string token = LoginOrDie("dave", "dave-password");
  auto first = auth_->Authenticate(token);
  auto second = auth_->Authenticate(token);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());

  // A role's permissions change: the next call builds a new principal that has them.
  ASSERT_TRUE(auth_->CreateRole("auditor", {"audit:read"}).ok());
  ASSERT_TRUE(auth_->UpdateUser("dave", std::nullopt, std::vector<std::string>{"auditor"}).ok());
  auto third = auth_->Authenticate(token);
  ASSERT_TRUE(third.ok());
  EXPECT_NE(third->get(), first->get());
  EXPECT_TRUE(auth_->Authorize(**third, "audit:read"));
  ASSERT_TRUE(auth_->UpdateRole("auditor", {"models:read"}).ok());
  auto fourth = auth_->Authenticate(token);
  ASSERT_TRUE(fourth.ok());
  EXPECT_FALSE(auth_->Authorize(**fourth, "audit:read"));
  EXPECT_TRUE(auth_->Authorize(**fourth, "models:read"));

  // A cached principal does not outlive the token's revocation.
  ASSERT_TRUE(auth_->Authenticate(token).ok());
  ASSERT_TRUE(auth_->Logout(**fourth).ok());
  EXPECT_EQ(auth_->Authenticate(token).status().code(), Code::kUnauthenticated);
}

TEST_F(AuthServiceTest, DeletedUserTokenFails) {
  ASSERT_TRUE(auth_->CreateUser("bob", "bob-password", {"viewer"}).ok());
  std::string token = LoginOrDie("bob", "bob-password");
  ASSERT_TRUE(AuthAs(*auth_, token).ok());
  ASSERT_TRUE(auth_->DeleteUser("bob").ok());
  auto p = AuthAs(*auth_, token);
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(auth_->DeleteUser("bob").code(), Code::kNotFound);
}

TEST_F(AuthServiceTest, LogoutRevokesTheTokenAndSurvivesRestart) {
  std::string t1 = LoginOrDie("admin", kAdminPassword);
  std::string t2 = LoginOrDie("admin", kAdminPassword);
  auto p = AuthAs(*auth_, t1);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(auth_->Logout(*p).ok());
  auto after = AuthAs(*auth_, t1);
  EXPECT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), Code::kUnauthenticated);
  // Only that token: the other session lives on.
  EXPECT_TRUE(AuthAs(*auth_, t2).ok());

  // A new service over the same database (a restart) still refuses it.
  auto restarted = NewService(kAdminPassword);
  ASSERT_TRUE(restarted->Bootstrap().ok());
  EXPECT_FALSE(AuthAs(*restarted, t1).ok());
  EXPECT_TRUE(AuthAs(*restarted, t2).ok());
}

TEST_F(AuthServiceTest, RevokeUserTokensEndsAllSessions) {
  std::string t1 = LoginOrDie("admin", kAdminPassword);
  std::string t2 = LoginOrDie("admin", kAdminPassword);
  ASSERT_TRUE(AuthAs(*auth_, t1).ok());
  ASSERT_TRUE(auth_->RevokeUserTokens("admin").ok());
  EXPECT_EQ(AuthAs(*auth_, t1).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(AuthAs(*auth_, t2).status().code(), Code::kUnauthenticated);
  // A new login works.
  std::string t3 = LoginOrDie("admin", kAdminPassword);
  EXPECT_TRUE(AuthAs(*auth_, t3).ok());
  EXPECT_EQ(auth_->RevokeUserTokens("nobody").code(), Code::kNotFound);
}

TEST_F(AuthServiceTest, ApiKeyLifecycle) {
  ASSERT_TRUE(auth_->CreateUser("carol", "carol-password", {"developer"}).ok());
  std::string token = LoginOrDie("carol", "carol-password");
  auto carol = AuthAs(*auth_, token);
  ASSERT_TRUE(carol.ok());

  auto key = auth_->CreateApiKey(*carol, "ci", std::nullopt);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->key.rfind("amk_" + key->record.id + "_", 0), 0u) << key->key;
  EXPECT_EQ(key->record.expires_at, 0);
  EXPECT_EQ(key->key.find(key->record.secret_hash), std::string::npos);

  auto p = AuthAs(*auth_, key->key);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->username, "carol");
  EXPECT_EQ(p->method, "apikey");
  EXPECT_EQ(p->token_id, key->record.id);
  EXPECT_TRUE(auth_->Authorize(*p, "models:write"));

  // A wrong secret with the right id fails.
  std::string wrong = key->key;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(AuthAs(*auth_, wrong).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(AuthAs(*auth_, "amk_nosuchid_secret").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(AuthAs(*auth_, "amk_").status().code(), Code::kUnauthenticated);

  auto listed = auth_->ListApiKeys(carol->user_id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "ci");
  EXPECT_EQ((*listed)[0].owner, "carol");

  // API keys cannot be "logged out".
  EXPECT_EQ(auth_->Logout(*p).code(), Code::kBadRequest);
  EXPECT_EQ(auth_->CreateApiKey(*carol, "", std::nullopt).status().code(), Code::kBadRequest);
  EXPECT_EQ(auth_->CreateApiKey(*carol, "x", 0).status().code(), Code::kBadRequest);

  // Someone else without users:write cannot revoke it (and cannot tell it exists).
  Principal stranger;
  stranger.user_id = carol->user_id + 1000;
  stranger.username = "stranger";
  stranger.permissions = {"apikeys:write"};
  EXPECT_EQ(auth_->RevokeApiKey(stranger, key->record.id).code(), Code::kNotFound);
  EXPECT_TRUE(AuthAs(*auth_, key->key).ok());

  ASSERT_TRUE(auth_->RevokeApiKey(*carol, key->record.id).ok());
  auto revoked = AuthAs(*auth_, key->key);
  EXPECT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(auth_->RevokeApiKey(*carol, key->record.id).code(), Code::kNotFound);

  // The key acts with the owner's current roles.
  auto key2 = auth_->CreateApiKey(*carol, "ci2", 30);
  ASSERT_TRUE(key2.ok());
  EXPECT_GT(key2->record.expires_at, 0);
  ASSERT_TRUE(auth_->UpdateUser("carol", std::nullopt, std::vector<std::string>{"viewer"}).ok());
  auto p2 = AuthAs(*auth_, key2->key);
  ASSERT_TRUE(p2.ok());
  EXPECT_FALSE(auth_->Authorize(*p2, "models:write"));
}

TEST_F(AuthServiceTest, LastAdminCannotBeRemoved) {
  Status del = auth_->DeleteUser("admin");
  EXPECT_EQ(del.code(), Code::kConflict) << del.ToString();
  ASSERT_TRUE(auth_->GetUser("admin").ok()) << "the failed delete must roll back";

  auto demote = auth_->UpdateUser("admin", std::nullopt, std::vector<std::string>{"viewer"});
  EXPECT_EQ(demote.status().code(), Code::kConflict);
  EXPECT_EQ(auth_->GetUser("admin")->roles, std::vector<std::string>{"admin"});

  // With a second admin, the first can go.
  ASSERT_TRUE(auth_->CreateUser("root2", "root2-password", {"admin", "viewer"}).ok());
  EXPECT_TRUE(auth_->DeleteUser("admin").ok());
  EXPECT_EQ(auth_->DeleteUser("root2").code(), Code::kConflict);
}

}  // namespace
}  // namespace aimass::auth
