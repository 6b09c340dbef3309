// The gateway's request handling, stage by stage, on a Gateway over an in-memory store: no route,
// refused paths and methods, a paused or degraded route, a rate limit, and a pool with nothing to
// send to. (Sending upstream is tested end to end: tests/e2e/test_gateway*.py.)
#include "test_db.hpp"
#include "gateway/gateway.hpp"

#include <gtest/gtest.h>

#include <prometheus/registry.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "auth/auth.hpp"
#include "auth/jwt.hpp"
#include "http/message.hpp"
#include "storage/db.hpp"

namespace aimass::gateway {
namespace {

using Json = nlohmann::json;

class GatewayHandleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::OpenTestDb();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->Migrate(auth::AuthService::Migrations()).ok());
    ASSERT_TRUE(db_->Migrate(Gateway::Migrations()).ok());
    ASSERT_TRUE(db_->Migrate(discovery::Discovery::Migrations()).ok());
    auth::AuthOptions o;
    o.keys = {"HS256", "gateway-handle-test-secret-0123456789abcdef", "", ""};
    o.admin_password = "admin-password-1";
    auto jwt = auth::Jwt::Create(o.keys, o.issuer);
    ASSERT_TRUE(jwt.ok());
    auth_ = std::make_unique<auth::AuthService>(*db_, std::move(jwt).value(), o);
    GatewayOptions go;
    go.access_log = false;
    gateway_ = std::make_unique<Gateway>(*db_, *auth_, metrics_, go);
    ASSERT_TRUE(gateway_->Load().ok());
  }

  void AddRoute(Json spec) {
    auto route = ParseRoute(spec);
    ASSERT_TRUE(route.ok()) << route.status().ToString();
    auto put = gateway_->PutRoute(*route, true);
    ASSERT_TRUE(put.ok()) << put.status().ToString();
  }

  http::Response Call(http::Method method, const std::string& path) {
    http::Request req;
    req.method = method;
    req.path = path;
    req.target = path;
    req.remote = "127.0.0.1:40000";
    req.request_id = "test-request";
    req.headers.Add("Host", "localhost");
    req.route = &gateway_->fallback_route();
    return req.route->handler(req);
  }

  std::shared_ptr<prometheus::Registry> metrics_ = std::make_shared<prometheus::Registry>();  // the gateway's series live here
  std::unique_ptr<storage::Db> db_;
  std::unique_ptr<auth::AuthService> auth_;
  std::unique_ptr<Gateway> gateway_;
};

std::string Code(const http::Response& r) { return Json::parse(r.body)["error"]["code"].get<std::string>(); }

TEST_F(GatewayHandleTest, NoRouteIsNotFoundAndRefusedPathsAndMethodsAreRefusedFirst) {
  AddRoute({{"name", "orders"}, {"paths", {"/orders"}}, {"service", "orders"}, {"anonymous", true}});
  http::Response none = Call(http::Method::kGet, "/nothing/here");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(Code(none), "not_found");
  EXPECT_EQ(Call(http::Method::kGet, "/orders/../admin").status, 400);
  EXPECT_EQ(Call(http::Method::kOther, "/orders").status, 405);
}

TEST_F(GatewayHandleTest, AServiceWithoutInstancesIsUnavailableWithRetryAfter) {
  AddRoute({{"name", "orders"}, {"paths", {"/orders"}}, {"service", "orders"}, {"anonymous", true}});
  http::Response r = Call(http::Method::kGet, "/orders/1");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("service 'orders' has no live instances"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "1");
}

TEST_F(GatewayHandleTest, APausedRouteAnswers503WithItsRetryAfterAndADegradedOneItsFallback) {
  AddRoute({{"name", "orders"}, {"paths", {"/orders"}}, {"service", "orders"}, {"anonymous", true}});
  RouteState paused;
  paused.mode = RouteMode::kPaused;
  paused.retry_after_s = 120;
  paused.reason = "maintenance";
  ASSERT_TRUE(gateway_->SetRouteState("orders", paused).ok());
  http::Response r = Call(http::Method::kGet, "/orders");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("route 'orders' is paused: maintenance"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "120");

  RouteState degraded;
  degraded.mode = RouteMode::kDegraded;
  auto fallback = ParseFallback({{"status", 200}, {"body", "{\"orders\":[]}"}, {"content_type", "application/json"}});
  ASSERT_TRUE(fallback.ok()) << fallback.status().ToString();
  degraded.fallback = *fallback;
  ASSERT_TRUE(gateway_->SetRouteState("orders", degraded).ok());
  r = Call(http::Method::kGet, "/orders");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"orders\":[]}");
  EXPECT_EQ(r.headers.Get("X-Degraded").value_or(""), "1");
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");

  ASSERT_TRUE(gateway_->SetRouteState("orders", RouteState{}).ok());
  EXPECT_EQ(Call(http::Method::kGet, "/orders").status, 503);  // active again: on to the (empty) pool
}

TEST_F(GatewayHandleTest, ARateLimitTakesFromTheAllowanceBeforeAnythingIsSent) {
  AddRoute({{"name", "orders"},
            {"paths", {"/orders"}},
            {"service", "orders"},
            {"anonymous", true},
            {"plugins", {{"rate_limit", {{"rate", 1}, {"per", "hour"}, {"key", "route"}}}}}});
  // The first request passes the limit (and finds no instance); the second is refused.
  EXPECT_EQ(Call(http::Method::kGet, "/orders").status, 503);
  http::Response r = Call(http::Method::kGet, "/orders");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Code(r), "rate_limited");
  EXPECT_EQ(r.headers.Get("RateLimit-Limit").value_or(""), "1");
  EXPECT_EQ(r.headers.Get("RateLimit-Remaining").value_or(""), "0");
  EXPECT_GT(std::stoll(std::string(r.headers.Get("Retry-After").value_or("0"))), 1);
}

TEST_F(GatewayHandleTest, RateLimitChoicesAreParsedIntoEnumsAndRefusedByName) {
  auto ok = ParseRoute({{"name", "r"},
                        {"paths", {"/r"}},
                        {"service", "s"},
                        {"plugins",
                         {{"rate_limit", {{"rate", 5}, {"per", "minute"}, {"key", "ip"}, {"algorithm", "sliding_window"}}}}}});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->rate_limit->per, RatePer::kMinute);
  EXPECT_EQ(ok->rate_limit->key, RateKey::kIp);
  EXPECT_EQ(ok->rate_limit->algorithm, RateAlgorithm::kSlidingWindow);
  EXPECT_EQ(ok->rate_limit->policy, RatePolicy::kLocal);
  EXPECT_EQ(ok->rate_limit->per_seconds(), 60);
  EXPECT_EQ(ToJson(*ok)["plugins"]["rate_limit"]["algorithm"], "sliding_window");
  auto bad = ParseRoute(
      {{"name", "r"}, {"paths", {"/r"}}, {"service", "s"}, {"plugins", {{"rate_limit", {{"rate", 5}, {"key", "user"}}}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "'rate_limit.key' must be one of consumer, route, ip");
}

}  // namespace
}  // namespace aimass::gateway
