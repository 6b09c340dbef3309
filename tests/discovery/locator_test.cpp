// Locator: which module serves a path elsewhere, and the live instances of a module in turn.
#include "discovery/locator.hpp"

#include <gtest/gtest.h>

#include <set>

#include "test_db.hpp"

namespace aimass::discovery {
namespace {

class LocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = aimass::testing::OpenTestDb();
    ASSERT_TRUE(db_->Migrate(Discovery::Migrations()).ok());
    discovery_ = MakeStoreDiscovery(*db_);
  }
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<Discovery> discovery_;
};

TEST_F(LocatorTest, APathBelongsToAModuleByWholeSegments) {
  Locator l(*discovery_, {{"/api/v1/models", "registry"}, {"/api/v1/mq", "mq"}});
  EXPECT_EQ(l.RemoteModuleFor("/api/v1/models"), "registry");
  EXPECT_EQ(l.RemoteModuleFor("/api/v1/models/m/versions/1/artifact"), "registry");
  EXPECT_EQ(l.RemoteModuleFor("/api/v1/models?prefix=x"), "registry");
  EXPECT_EQ(l.RemoteModuleFor("/api/v1/mq/topics/t/messages"), "mq");
  EXPECT_EQ(l.RemoteModuleFor("/api/v1/models-x"), "") << "another path that only starts alike";
  EXPECT_EQ(l.RemoteModuleFor("/api/v1/users"), "") << "served here";
}

TEST_F(LocatorTest, LiveInstancesAreTakenInTurnAndNoneIsUnavailable) {
  Locator l(*discovery_, {});
  auto none = l.UrlOf("registry");
  EXPECT_EQ(none.status().code(), Code::kUnavailable);
  for (const char* url : {"http://10.0.0.1:8080", "http://10.0.0.2:8080"}) {
    Instance in;
    in.service = "aimass-registry";
    in.url = url;
    ASSERT_TRUE(discovery_->Register(in).ok());
  }
  Instance other;
  other.service = "aimass-mq";
  other.url = "http://10.0.0.3:8080";
  ASSERT_TRUE(discovery_->Register(other).ok());
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    auto u = l.UrlOf("registry");
    ASSERT_TRUE(u.ok()) << u.status().ToString();
    seen.insert(*u);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"http://10.0.0.1:8080", "http://10.0.0.2:8080"}));
  // An expired instance is not handed out.
  ASSERT_TRUE(discovery_->Expire(INT64_MAX).ok());
  EXPECT_EQ(l.UrlOf("registry").status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace aimass::discovery
