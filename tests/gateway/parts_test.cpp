// The gateway's pure parts: route matching and the forwarded path, the balancing rules and
// passive ejection, and the two rate-limit algorithms on a clock the test drives.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "gateway/rate_limiter.hpp"
#include "gateway/response_cache.hpp"
#include "gateway/route_table.hpp"
#include "gateway/spec.hpp"
#include "gateway/token_limiter.hpp"
#include "gateway/upstream_pool.hpp"

namespace aimass::gateway {
namespace {

using nlohmann::json;

RouteSpec Route(json j) {
  j["upstream"] = "u";
  auto r = ParseRoute(j);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

UpstreamSpec Upstream(json j) {
  j["name"] = "u";
  auto u = ParseUpstream(j);
  EXPECT_TRUE(u.ok()) << u.status().ToString();
  return *u;
}

std::string Hit(const RouteTable& t, std::string_view path, http::Method m = http::Method::kGet,
                std::string_view host = "localhost", const http::Headers& h = {}) {
  auto hit = t.Match(host, m, path, h);
  return hit ? hit->route->name + " " + hit->upstream_path : "none";
}

TEST(GatewayRouteTable, MostSpecificRouteWinsAndPathsAreRewritten) {
  RouteTable t({Route({{"name", "prefix"}, {"paths", {"/svc"}}}),
                Route({{"name", "deeper"}, {"paths", {"/svc/a"}}, {"strip_path", true}}),
                Route({{"name", "exact"}, {"paths", {"=/svc/a/b"}}}),
                Route({{"name", "capture"}, {"paths", {"/users/{id}/orders"}}, {"rewrite", "/o/{id}"}}),
                Route({{"name", "hosted"}, {"paths", {"/svc"}}, {"hosts", {"*.example.com"}}}),
                Route({{"name", "deletes"}, {"paths", {"/svc"}}, {"methods", {"DELETE"}}})});
  EXPECT_EQ(Hit(t, "/svc"), "prefix /svc");
  EXPECT_EQ(Hit(t, "/svc/x?"), "prefix /svc/x?");
  EXPECT_EQ(Hit(t, "/svc/a/c"), "deeper /c");
  EXPECT_EQ(Hit(t, "/svc/a"), "deeper /");
  EXPECT_EQ(Hit(t, "/svc/a/b"), "exact /svc/a/b");
  EXPECT_EQ(Hit(t, "/svc/a/b/c"), "deeper /b/c");
  EXPECT_EQ(Hit(t, "/svcx"), "none");
  EXPECT_EQ(Hit(t, "/users/7/orders/3"), "capture /o/7/3");
  EXPECT_EQ(Hit(t, "/users//orders"), "none");
  EXPECT_EQ(Hit(t, "/svc", http::Method::kGet, "API.example.com:8080"), "hosted /svc");
  EXPECT_EQ(Hit(t, "/svc", http::Method::kGet, "a.b.example.com"), "prefix /svc");
  EXPECT_EQ(Hit(t, "/svc", http::Method::kDelete), "deletes /svc");
}

TEST(GatewayRouteTable, HeaderConditionsMustAllHold) {
  RouteTable t({Route({{"name", "any"}, {"paths", {"/x"}}}),
                Route({{"name", "blue"}, {"paths", {"/x"}}, {"headers", {{"X-Tenant", "blue"}}}})});
  http::Headers blue, red;
  blue.Set("x-tenant", "blue");
  red.Set("X-Tenant", "red");
  EXPECT_EQ(Hit(t, "/x", http::Method::kGet, "h", blue), "blue /x");
  EXPECT_EQ(Hit(t, "/x", http::Method::kGet, "h", red), "any /x");
}

TEST(GatewayRouteTable, DotSegmentsAreFoundRawOrEncoded) {
  EXPECT_TRUE(HasDotSegment("/a/../b"));
  EXPECT_TRUE(HasDotSegment("/a/%2e%2E/b"));
  EXPECT_TRUE(HasDotSegment("/a/./b"));
  EXPECT_TRUE(HasDotSegment("/a/%2e"));
  EXPECT_FALSE(HasDotSegment("/a/..b/c"));
  EXPECT_FALSE(HasDotSegment("/a/.well-known"));
  EXPECT_FALSE(HasDotSegment("/a/%2"));
}

TEST(GatewaySpec, RefusesWhatWouldMisroute) {
  json base = {{"name", "r"}, {"upstream", "u"}};
  for (const char* bad : {"/api/v1/x", "/v2", "/", "/a/../b", "a", "/x{id}", "/a?b", "/%2e"}) {
    json j = base;
    j["paths"] = {bad};
    EXPECT_FALSE(ParseRoute(j).ok()) << bad;
  }
  json unknown = base;
  unknown["paths"] = {"/ok"};
  unknown["strip_paths"] = true;
  EXPECT_EQ(ParseRoute(unknown).status().code(), Code::kBadRequest);
  EXPECT_FALSE(ParseUpstream({{"name", "u"}, {"targets", {{{"url", "http://h:1?x"}}}}}).ok());
  EXPECT_FALSE(ParseUpstream({{"name", "u"}, {"targets", {{{"url", "http://h:1"}}, {{"url", "http://h:1/"}}}}}).ok());
}

TEST(GatewayUpstreamPool, SmoothWeightedRoundRobinFollowsWeights) {
  UpstreamPool pool(Upstream({{"targets", {{{"url", "http://a:1"}, {"weight", 300}}, {{"url", "http://b:1"}, {"weight", 100}}, {{"url", "http://c:1"}, {"weight", 0}}}}}));
  std::map<size_t, int> count;
  std::string order;
  for (int i = 0; i < 400; ++i) {
    auto p = pool.Pick("", {});
    ASSERT_TRUE(p);
    ++count[*p];
    if (i < 8) order += static_cast<char>('a' + *p);
    pool.Finish(*p, true, std::chrono::milliseconds(1));
  }
  EXPECT_EQ(count[0], 300);
  EXPECT_EQ(count[1], 100);
  EXPECT_EQ(count[2], 0);  // weight 0: draining
  EXPECT_EQ(order, "aabaaaba");  // spread, not aaab in a row
}

TEST(GatewayUpstreamPool, TargetUrlsAreSplitOnceWithTheirPathPrefix) {
  UpstreamPool pool(Upstream({{"targets", {{{"url", "http://a:1"}}, {{"url", "http://[::1]:82/v1/api"}}, {{"url", "http://b/"}}}}}));
  ASSERT_NE(pool.url(0), nullptr);
  EXPECT_EQ(pool.url(0)->host, "a");
  EXPECT_EQ(pool.url(0)->port, "1");
  EXPECT_EQ(pool.url(0)->target, "") << "no path: the request's own follows the authority";
  ASSERT_NE(pool.url(1), nullptr);
  EXPECT_EQ(pool.url(1)->host, "::1");
  EXPECT_EQ(pool.url(1)->port, "82");
  EXPECT_EQ(pool.url(1)->target, "/v1/api");
  ASSERT_NE(pool.url(2), nullptr);
  EXPECT_EQ(pool.url(2)->port, "80");
  EXPECT_EQ(pool.spec().targets[2].url, "http://b") << "the spec drops a trailing slash";
  EXPECT_EQ(pool.url(2)->target, "");
}

TEST(GatewayUpstreamPool, FailingTargetIsEjectedThenTriedAgain) {
  UpstreamPool pool(Upstream({{"targets", {{{"url", "http://a:1"}}, {{"url", "http://b:1"}}}}, {"eject_after_failures", 2}, {"eject_s", 1}}));
  // b fails twice: ejected
  for (int i = 0; i < 2; ++i) {
    auto p = pool.Pick("", std::vector<size_t>{0});
    ASSERT_EQ(p, 1u);
    pool.Finish(1, false, {});
  }
  for (int i = 0; i < 10; ++i) {
    auto p = pool.Pick("", {});
    EXPECT_EQ(p, 0u);
    pool.Finish(*p, true, {});
  }
  EXPECT_TRUE(pool.Health()[1]["ejected"].get<bool>());
  // with a already tried, the ejected b is still better than nothing
  EXPECT_EQ(pool.Pick("", std::vector<size_t>{0}), 1u);
  pool.Finish(1, true, {});
  EXPECT_EQ(pool.Health()[1]["consecutive_failures"], 0);
}

TEST(GatewayUpstreamPool, LeastConnectionsAndConsistentHash) {
  UpstreamPool lc(Upstream({{"balance", "least_connections"}, {"targets", {{{"url", "http://a:1"}}, {{"url", "http://b:1"}}}}}));
  auto first = lc.Pick("", {});
  auto second = lc.Pick("", {});
  EXPECT_NE(*first, *second);  // the busy one is avoided
  lc.Finish(*first, true, {});
  EXPECT_EQ(lc.Pick("", {}), first);

  UpstreamPool ring(Upstream({{"balance", "consistent_hash"}, {"targets", {{{"url", "http://a:1"}}, {{"url", "http://b:1"}}, {{"url", "http://c:1"}}}}}));
  std::map<size_t, int> spread;
  for (int k = 0; k < 300; ++k) {
    std::string key = "user-" + std::to_string(k);
    auto p = ring.Pick(key, {});
    ring.Finish(*p, true, {});
    EXPECT_EQ(ring.Pick(key, {}), p);
    ring.Finish(*p, true, {});
    ++spread[*p];
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_GT(spread[i], 50) << i;
}

TEST(GatewayUpstreamPool, CircuitOpensOnFailureRatioAndClosesAfterTrials) {
  UpstreamPool pool(Upstream({{"targets", {{{"url", "http://a:1"}}}},
                              {"circuit_breaker", {{"failure_ratio", 0.5}, {"min_requests", 4}, {"window_s", 10},
                                                   {"open_s", 5}, {"half_open_requests", 2}}}}));
  auto t = UpstreamPool::Clock::now();
  for (bool failed : {false, true, false}) {
    ASSERT_TRUE(pool.AdmitRequest(t).allowed);
    pool.ReportOutcome(failed, false, t);
  }
  EXPECT_EQ(pool.CircuitJson()["state"], "closed");  // 3 < min_requests
  pool.ReportOutcome(true, false, t);                 // 2 of 4 failed: open
  auto refused = pool.AdmitRequest(t + std::chrono::seconds(1));
  EXPECT_FALSE(refused.allowed);
  EXPECT_NEAR(refused.retry_after_s, 4, 0.01);
  // half-open after open_s: two trials at most, both must pass
  auto later = t + std::chrono::seconds(5);
  auto t1 = pool.AdmitRequest(later), t2 = pool.AdmitRequest(later);
  EXPECT_TRUE(t1.trial && t2.trial);
  EXPECT_FALSE(pool.AdmitRequest(later).allowed);
  pool.ReportOutcome(false, true, later);
  pool.ReportOutcome(true, true, later);  // a failed trial opens it again
  EXPECT_FALSE(pool.AdmitRequest(later + std::chrono::seconds(1)).allowed);
  auto again = later + std::chrono::seconds(5);
  auto a1 = pool.AdmitRequest(again), a2 = pool.AdmitRequest(again);
  pool.ReportOutcome(false, a1.trial, again);
  pool.ReportOutcome(false, a2.trial, again);
  EXPECT_TRUE(pool.AdmitRequest(again).allowed);
  EXPECT_FALSE(pool.AdmitRequest(again).trial);  // closed
}

TEST(GatewayRateLimiter, TokenBucketAllowsBurstThenRate) {
  RateLimiter rl;
  RateLimitSpec spec;
  spec.rate = 10;
  spec.burst = 5;
  auto t0 = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.Take("k", spec, t0).allowed) << i;
  auto refused = rl.Take("k", spec, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_NEAR(refused.retry_after_s, 0.1, 1e-9);
  EXPECT_TRUE(rl.Take("k", spec, t0 + std::chrono::milliseconds(100)).allowed);
  EXPECT_FALSE(rl.Take("k", spec, t0 + std::chrono::milliseconds(100)).allowed);
  EXPECT_TRUE(rl.Take("other", spec, t0).allowed);  // keys are separate
}

TEST(GatewayRateLimiter, SlidingWindowWeighsThePreviousWindow) {
  RateLimiter rl;
  RateLimitSpec spec;
  spec.rate = 10;
  spec.per = RatePer::kMinute;
  spec.algorithm = RateAlgorithm::kSlidingWindow;
  auto window = RateLimiter::Clock::time_point{} + std::chrono::minutes(1000);  // a window start
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(rl.Take("k", spec, window + std::chrono::seconds(50)).allowed);
  EXPECT_FALSE(rl.Take("k", spec, window + std::chrono::seconds(59)).allowed);
  // 15 s into the next window the previous one still weighs 0.75 × 10 = 7.5: two more fit
  auto next = window + std::chrono::seconds(75);
  EXPECT_TRUE(rl.Take("k", spec, next).allowed);
  EXPECT_TRUE(rl.Take("k", spec, next).allowed);
  auto refused = rl.Take("k", spec, next);
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after_s, 0);
}

TEST(GatewayTokenLimiter, ChargesAfterTheAnswerAndRefillsPerMinute) {
  TokenLimiter tl;
  TokenLimitSpec spec;
  spec.tokens_per_minute = 600;  // 10 a second
  auto t0 = TokenLimiter::Clock::time_point{} + std::chrono::hours(1);
  auto d = tl.Check("k", spec, t0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 600);
  tl.Charge("k", spec, 650, t0);  // one long answer overdraws the budget
  auto refused = tl.Check("k", spec, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_NEAR(refused.retry_after_s, 5.1, 1e-9);  // 51 tokens short at 10 a second
  EXPECT_FALSE(tl.Check("k", spec, t0 + std::chrono::seconds(5)).allowed);
  EXPECT_TRUE(tl.Check("k", spec, t0 + std::chrono::milliseconds(5200)).allowed);
  EXPECT_TRUE(tl.Check("other", spec, t0).allowed);  // keys are separate
  // Refills stop at a minute's worth.
  EXPECT_EQ(tl.Check("k", spec, t0 + std::chrono::hours(2)).remaining, 600);
}

TEST(GatewayTokenLimiter, ReadsTheLastTotalTokensOfAnAnswer) {
  EXPECT_EQ(UsageTokens(R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})"), 7);
  EXPECT_EQ(UsageTokens("data: {\"usage\":{\"total_tokens\": 5}}\n\ndata: {\"usage\":{\"total_tokens\":12}}\n\ndata: [DONE]\n\n"), 12);
  EXPECT_EQ(UsageTokens(R"({"usage":{"total_tokens":"x"}})"), -1);
  EXPECT_EQ(UsageTokens("no usage here"), -1);
  EXPECT_EQ(UsageTokens(R"({"usage":{"total_tokens":12)"), -1) << "a number at the end may go on";
}

// A forwarded stream's usage, split at every byte: the same total as the whole body, once.
TEST(GatewayTokenLimit, UsageIsReadFromAStreamSplitAnywhere) {
  const std::string body =
      "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":23,\"total_tokens\":123}}\n\n"
      "data: [DONE]\n\n";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    UsageScanner scan;
    scan.Feed(std::string_view(body).substr(0, cut));
    scan.Feed(std::string_view(body).substr(cut));
    EXPECT_EQ(scan.tokens(), 123) << "cut at " << cut;
  }
  UsageScanner bytes;
  for (char c : body) bytes.Feed(std::string_view(&c, 1));
  EXPECT_EQ(bytes.tokens(), 123);
  UsageScanner none;
  none.Feed("data: {}\n\n");
  EXPECT_EQ(none.tokens(), -1);
}

TEST(GatewayResponseCache, ExpiresEvictsLeastRecentlyUsedAndPurgesByRoute) {
  ResponseCache cache(8 * 1024);  // an entry may be up to 1 KiB
  auto now = ResponseCache::Clock::now();
  auto entry = [&](std::string route, size_t bytes, int ttl_s) {
    ResponseCache::Entry e;
    e.route = std::move(route);
    e.body.assign(bytes, 'x');
    e.stored = now;
    e.expires = now + std::chrono::seconds(ttl_s);
    return e;
  };
  cache.Put("a", entry("r1", 500, 10));
  ASSERT_NE(cache.Get("a", now), nullptr);
  EXPECT_EQ(cache.Get("a", now + std::chrono::seconds(11)), nullptr);  // expired, and dropped
  EXPECT_EQ(cache.stats().entries, 0u);

  cache.Put("too-big", entry("r1", 2000, 10));
  EXPECT_EQ(cache.Get("too-big", now), nullptr);
  for (int i = 0; i < 12; ++i) {
    cache.Put("k" + std::to_string(i), entry(i % 2 ? "r1" : "r2", 600, 10));
    ASSERT_NE(cache.Get("k0", now), nullptr) << i;  // kept fresh by use
  }
  auto st = cache.stats();
  EXPECT_LE(st.bytes, 8u * 1024);
  EXPECT_GT(st.evictions, 0u);
  EXPECT_EQ(cache.Get("k1", now), nullptr);  // the least recently used went first
  EXPECT_NE(cache.Get("k11", now), nullptr);
  size_t r2 = cache.Purge("r2");
  EXPECT_GE(r2, 1u);
  EXPECT_EQ(cache.Get("k0", now), nullptr);
  EXPECT_NE(cache.Get("k11", now), nullptr);
  size_t left = cache.stats().entries;
  EXPECT_EQ(cache.PurgeAll(), left);
  EXPECT_EQ(cache.stats().bytes, 0u);
}

}  // namespace
}  // namespace aimass::gateway
