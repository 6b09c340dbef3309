#include "auth/rbac.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace aimass::auth {
namespace {

const Role& BuiltinRole(const std::string& name) {
  for (const Role& r : BuiltinRoles()) {
    if (r.name == name) return r;
  }
  ADD_FAILURE() << "no built-in role " << name;
  static const Role kEmpty;
  return kEmpty;
}

TEST(RbacTest, AllowsExactMatch) {
  std::vector<std::string> g = {"models:read"};
  EXPECT_TRUE(Allows(g, "models:read"));
  EXPECT_FALSE(Allows(g, "models:write"));
  EXPECT_FALSE(Allows(g, "datasets:read"));
  EXPECT_FALSE(Allows(g, "models:reader"));
  EXPECT_FALSE(Allows(g, "model:read"));
}

TEST(RbacTest, AllowsResourceWildcard) {
  std::vector<std::string> g = {"models:*"};
  EXPECT_TRUE(Allows(g, "models:read"));
  EXPECT_TRUE(Allows(g, "models:write"));
  EXPECT_FALSE(Allows(g, "datasets:read"));
}

TEST(RbacTest, AllowsActionWildcard) {
  std::vector<std::string> g = {"*:read"};
  EXPECT_TRUE(Allows(g, "models:read"));
  EXPECT_TRUE(Allows(g, "users:read"));
  EXPECT_FALSE(Allows(g, "models:write"));
}

TEST(RbacTest, AllowsEverything) {
  std::vector<std::string> g = {"*:*"};
  EXPECT_TRUE(Allows(g, "models:read"));
  EXPECT_TRUE(Allows(g, "users:write"));
  EXPECT_TRUE(Allows(g, "anything:at-all"));
}

TEST(RbacTest, NoMatch) {
  EXPECT_FALSE(Allows({}, "models:read"));
  std::vector<std::string> g = {"datasets:write", "mq:*", "*:publish"};
  EXPECT_FALSE(Allows(g, "models:read"));
  EXPECT_FALSE(Allows(g, "datasets:read"));
  EXPECT_TRUE(Allows(g, "mq:consume"));
  EXPECT_TRUE(Allows(g, "events:publish"));
  // A granted string that merely contains the required one is no match.
  EXPECT_FALSE(Allows({"models:readwrite"}, "models:read"));
  EXPECT_FALSE(Allows({"xmodels:read"}, "models:read"));
}

TEST(RbacTest, BuiltinRolesExist) {
  std::vector<std::string> names;
  for (const Role& r : BuiltinRoles()) {
    names.push_back(r.name);
    EXPECT_TRUE(r.builtin) << r.name;
    for (const auto& p : r.permissions) {
      EXPECT_TRUE(ValidatePermission(p).ok()) << r.name << ": " << p;
    }
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"admin", "developer", "viewer"}));
}

TEST(RbacTest, AdminAllowsAnything) {
  const auto& p = BuiltinRole("admin").permissions;
  for (const char* perm : {"users:write", "users:read", "audit:read", "models:write",
                           "metrics:read", "future:thing"}) {
    EXPECT_TRUE(Allows(p, perm)) << perm;
  }
}

TEST(RbacTest, ViewerPermissions) {
  const auto& p = BuiltinRole("viewer").permissions;
  EXPECT_FALSE(Allows(p, "users:write"));
  EXPECT_FALSE(Allows(p, "users:read"));
  EXPECT_FALSE(Allows(p, "audit:read"));
  EXPECT_FALSE(Allows(p, "models:write"));
  EXPECT_FALSE(Allows(p, "roles:write"));
  EXPECT_TRUE(Allows(p, "models:read"));
  EXPECT_TRUE(Allows(p, "apikeys:write"));
  EXPECT_TRUE(Allows(p, "blobs:read"));
  EXPECT_FALSE(Allows(p, "blobs:write"));
}

TEST(RbacTest, DeveloperPermissions) {
  const auto& p = BuiltinRole("developer").permissions;
  EXPECT_TRUE(Allows(p, "models:write"));
  EXPECT_TRUE(Allows(p, "models:read"));
  EXPECT_TRUE(Allows(p, "blobs:write"));
  EXPECT_TRUE(Allows(p, "inference:invoke"));
  EXPECT_FALSE(Allows(p, "users:write"));
  EXPECT_FALSE(Allows(p, "users:read"));
  EXPECT_FALSE(Allows(p, "audit:read"));
  EXPECT_FALSE(Allows(p, "roles:write"));
}

TEST(RbacTest, ValidatePermissionAccepts) {
  for (const char* p : {"models:read", "*:*", "models:*", "*:read", "a.b-c_d:x9", "m:r"}) {
    EXPECT_TRUE(ValidatePermission(p).ok()) << p;
  }
  EXPECT_TRUE(ValidatePermission(std::string(64, 'a') + ":" + std::string(64, 'b')).ok());
}

TEST(RbacTest, ValidatePermissionRejects) {
  for (const char* p : {"", "models", ":", ":read", "models:", "models:read:extra", "Models:read",
                        "models:Read", "mod els:read", "models/x:read", "**:read", "mod*:read",
                        "models:re*", "models;read"}) {
    Status st = ValidatePermission(p);
    EXPECT_FALSE(st.ok()) << "'" << p << "' accepted";
    EXPECT_EQ(st.code(), Code::kBadRequest) << p;
  }
  EXPECT_FALSE(ValidatePermission(std::string(65, 'a') + ":read").ok());
}

TEST(RbacTest, MayActOnTopicNeedsTheActionOverAllTopicsOrThatOne) {
  Principal who;
  who.permissions = {"mq.orders:publish"};
  EXPECT_TRUE(MayActOnTopic(who, "orders", "publish").ok());
  Status other = MayActOnTopic(who, "payments", "publish");
  EXPECT_EQ(other.code(), Code::kForbidden);
  EXPECT_NE(other.message().find("mq:publish on topic 'payments'"), std::string::npos) << other.message();
  EXPECT_EQ(MayActOnTopic(who, "orders", "consume").code(), Code::kForbidden);
  who.permissions = {"mq:*"};
  EXPECT_TRUE(MayActOnTopic(who, "payments", "consume").ok());
  who.permissions = {};
  EXPECT_EQ(MayActOnTopic(who, std::string(300, 'a'), "publish").message().size(), 162u);  // the topic cut to 128 bytes
}

}  // namespace
}  // namespace aimass::auth
