#include "http/router.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace aimass::http {
namespace {

Response Ok(Request&) { return Response{}; }

Route MakeRoute(Method method, std::string pattern) {
  Route r;
  r.method = method;
  r.pattern = std::move(pattern);
  r.handler = Ok;
  return r;
}

void AddOrDie(Router& router, Method method, const std::string& pattern) {
  Status st = router.Add(MakeRoute(method, pattern));
  ASSERT_TRUE(st.ok()) << pattern << ": " << st.ToString();
}

std::string ParamOf(const RouteMatch& m, const std::string& name) {
  for (const auto& [n, v] : m.params) {
    if (n == name) return v;
  }
  return "<absent>";
}

std::string PatternOf(const RouteMatch& m) { return m.route ? m.route->pattern : "<none>"; }

TEST(RouterTest, LiteralBeatsCaptureWhateverTheOrder) {
  for (bool literal_first : {true, false}) {
    SCOPED_TRACE(literal_first ? "literal registered first" : "capture registered first");
    Router router;
    if (literal_first) {
      AddOrDie(router, Method::kGet, "/users/me");
      AddOrDie(router, Method::kGet, "/users/{name}");
    } else {
      AddOrDie(router, Method::kGet, "/users/{name}");
      AddOrDie(router, Method::kGet, "/users/me");
    }
    RouteMatch me = router.Match(Method::kGet, "/users/me");
    ASSERT_TRUE(me.status.ok()) << me.status.ToString();
    EXPECT_EQ(PatternOf(me), "/users/me");
    EXPECT_TRUE(me.params.empty());

    RouteMatch bob = router.Match(Method::kGet, "/users/bob");
    ASSERT_TRUE(bob.status.ok()) << bob.status.ToString();
    EXPECT_EQ(PatternOf(bob), "/users/{name}");
    EXPECT_EQ(ParamOf(bob, "name"), "bob");
  }
}

TEST(RouterTest, LiteralSegmentBeatsCaptureInLaterPosition) {
  Router router;
  AddOrDie(router, Method::kGet, "/{a}/{b}");
  AddOrDie(router, Method::kGet, "/{a}/info");
  AddOrDie(router, Method::kGet, "/items/{b}");
  // Specificity is decided segment by segment from the left.
  EXPECT_EQ(PatternOf(router.Match(Method::kGet, "/items/info")), "/items/{b}");
  EXPECT_EQ(PatternOf(router.Match(Method::kGet, "/x/info")), "/{a}/info");
  EXPECT_EQ(PatternOf(router.Match(Method::kGet, "/x/y")), "/{a}/{b}");
}

TEST(RouterTest, RoutesKeepRegistrationOrder) {
  Router router;
  AddOrDie(router, Method::kGet, "/users/{name}");
  AddOrDie(router, Method::kGet, "/users/me");
  AddOrDie(router, Method::kPost, "/users");
  auto routes = router.routes();
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0]->pattern, "/users/{name}");
  EXPECT_EQ(routes[1]->pattern, "/users/me");
  EXPECT_EQ(routes[2]->pattern, "/users");
  EXPECT_EQ(routes[2]->method, Method::kPost);
}

TEST(RouterTest, CapturesArePercentDecoded) {
  Router router;
  AddOrDie(router, Method::kGet, "/files/{name}");
  RouteMatch m = router.Match(Method::kGet, "/files/a%2Fb%20c%41");
  ASSERT_TRUE(m.status.ok()) << m.status.ToString();
  EXPECT_EQ(PatternOf(m), "/files/{name}");
  // %2F is a slash inside one segment, not a separator.
  EXPECT_EQ(ParamOf(m, "name"), "a/b cA");
  // A raw slash is a separator, so it does not match a one-segment capture.
  EXPECT_EQ(router.Match(Method::kGet, "/files/a/b").status.code(), Code::kNotFound);
}

TEST(RouterTest, MixedSegmentWithTwoCaptures) {
  Router router;
  AddOrDie(router, Method::kGet, "/models/{name}@{alias}/artifact");
  RouteMatch m = router.Match(Method::kGet, "/models/bert@prod/artifact");
  ASSERT_TRUE(m.status.ok()) << m.status.ToString();
  EXPECT_EQ(ParamOf(m, "name"), "bert");
  EXPECT_EQ(ParamOf(m, "alias"), "prod");

  // Decoded after splitting: an encoded '@' stays in the capture.
  RouteMatch enc = router.Match(Method::kGet, "/models/a%40b@v1/artifact");
  ASSERT_TRUE(enc.status.ok()) << enc.status.ToString();
  EXPECT_EQ(ParamOf(enc, "name"), "a@b");
  EXPECT_EQ(ParamOf(enc, "alias"), "v1");

  EXPECT_EQ(router.Match(Method::kGet, "/models/bert/artifact").status.code(), Code::kNotFound);
  EXPECT_EQ(router.Match(Method::kGet, "/models/bert@prod/other").status.code(), Code::kNotFound);
  EXPECT_EQ(router.Match(Method::kGet, "/models/bert@prod").status.code(), Code::kNotFound);
}

TEST(RouterTest, MixedSegmentWithLiteralSuffix) {
  Router router;
  AddOrDie(router, Method::kGet, "/v1/models/{name}");
  AddOrDie(router, Method::kPost, "/v1/models/{name}:predict");
  RouteMatch p = router.Match(Method::kPost, "/v1/models/bert:predict");
  ASSERT_TRUE(p.status.ok()) << p.status.ToString();
  EXPECT_EQ(PatternOf(p), "/v1/models/{name}:predict");
  EXPECT_EQ(ParamOf(p, "name"), "bert");

  // The bare capture still serves plain names.
  RouteMatch g = router.Match(Method::kGet, "/v1/models/bert");
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(PatternOf(g), "/v1/models/{name}");
  EXPECT_EQ(ParamOf(g, "name"), "bert");

  // The suffix must match exactly, at the end.
  RouteMatch other = router.Match(Method::kPost, "/v1/models/bert:explain");
  EXPECT_EQ(other.route, nullptr);
  EXPECT_EQ(other.status.code(), Code::kMethodNotAllowed);  // path fits GET {name} only
}

TEST(RouterTest, RestCaptureTakesTheRemainingPath) {
  Router router;
  AddOrDie(router, Method::kGet, "/static/{path...}");
  AddOrDie(router, Method::kGet, "/static/{file}");
  RouteMatch deep = router.Match(Method::kGet, "/static/css/site%20v2/main.css");
  ASSERT_TRUE(deep.status.ok()) << deep.status.ToString();
  EXPECT_EQ(PatternOf(deep), "/static/{path...}");
  EXPECT_EQ(ParamOf(deep, "path"), "css/site v2/main.css");

  // A one-segment capture is more specific than the catch-all.
  RouteMatch one = router.Match(Method::kGet, "/static/app.js");
  ASSERT_TRUE(one.status.ok());
  EXPECT_EQ(PatternOf(one), "/static/{file}");
  EXPECT_EQ(ParamOf(one, "file"), "app.js");

  // The catch-all never captures nothing.
  EXPECT_EQ(router.Match(Method::kGet, "/static/").status.code(), Code::kNotFound);
  EXPECT_EQ(router.Match(Method::kGet, "/static").status.code(), Code::kNotFound);
}

TEST(RouterTest, RestCaptureMustBeTheWholeLastSegment) {
  Router router;
  EXPECT_FALSE(router.Add(MakeRoute(Method::kGet, "/a/{rest...}/b")).ok());
  EXPECT_FALSE(router.Add(MakeRoute(Method::kGet, "/a/x{rest...}")).ok());
  EXPECT_TRUE(router.routes().empty());
}

TEST(RouterTest, MalformedPatternsAreRejected) {
  Router router;
  EXPECT_FALSE(router.Add(MakeRoute(Method::kGet, "")).ok());
  EXPECT_FALSE(router.Add(MakeRoute(Method::kGet, "users")).ok());
  EXPECT_FALSE(router.Add(MakeRoute(Method::kGet, "/users/{name")).ok());
  EXPECT_FALSE(router.Add(MakeRoute(Method::kGet, "/users/{}")).ok());
  EXPECT_FALSE(router.Add(MakeRoute(Method::kGet, "/users/{a}{b}")).ok());
  EXPECT_TRUE(router.routes().empty());
}

TEST(RouterTest, NotFoundVersusMethodNotAllowed) {
  Router router;
  AddOrDie(router, Method::kGet, "/items");
  AddOrDie(router, Method::kPost, "/items");
  AddOrDie(router, Method::kGet, "/items/{id}");
  AddOrDie(router, Method::kDelete, "/items/{id}");

  RouteMatch nf = router.Match(Method::kGet, "/nothing/here");
  EXPECT_EQ(nf.route, nullptr);
  EXPECT_EQ(nf.status.code(), Code::kNotFound);
  EXPECT_TRUE(nf.allowed.empty());

  RouteMatch lit = router.Match(Method::kPut, "/items");
  EXPECT_EQ(lit.route, nullptr);
  EXPECT_EQ(lit.status.code(), Code::kMethodNotAllowed);
  std::vector<Method> allowed = lit.allowed;
  std::sort(allowed.begin(), allowed.end());
  EXPECT_EQ(allowed, (std::vector<Method>{Method::kGet, Method::kPost}));

  RouteMatch cap = router.Match(Method::kPatch, "/items/7");
  EXPECT_EQ(cap.route, nullptr);
  EXPECT_EQ(cap.status.code(), Code::kMethodNotAllowed);
  allowed = cap.allowed;
  std::sort(allowed.begin(), allowed.end());
  EXPECT_EQ(allowed, (std::vector<Method>{Method::kGet, Method::kDelete}));

  RouteMatch del = router.Match(Method::kDelete, "/items/7");
  ASSERT_TRUE(del.status.ok());
  EXPECT_EQ(del.route->method, Method::kDelete);
  EXPECT_EQ(ParamOf(del, "id"), "7");
}

TEST(RouterTest, HeadFallsBackToGet) {
  Router router;
  AddOrDie(router, Method::kGet, "/a");
  AddOrDie(router, Method::kGet, "/b/{x}");
  AddOrDie(router, Method::kPost, "/c");

  RouteMatch a = router.Match(Method::kHead, "/a");
  ASSERT_TRUE(a.status.ok()) << a.status.ToString();
  ASSERT_NE(a.route, nullptr);
  EXPECT_EQ(a.route->method, Method::kGet);

  RouteMatch b = router.Match(Method::kHead, "/b/y");
  ASSERT_TRUE(b.status.ok()) << b.status.ToString();
  EXPECT_EQ(b.route->method, Method::kGet);
  EXPECT_EQ(ParamOf(b, "x"), "y");

  // Only GET is a fallback for HEAD.
  EXPECT_EQ(router.Match(Method::kHead, "/c").status.code(), Code::kMethodNotAllowed);
}

TEST(RouterTest, ExplicitHeadRouteWinsOverGet) {
  Router router;
  AddOrDie(router, Method::kGet, "/a");
  AddOrDie(router, Method::kHead, "/a");
  RouteMatch m = router.Match(Method::kHead, "/a");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method, Method::kHead);
  EXPECT_EQ(router.Match(Method::kGet, "/a").route->method, Method::kGet);
}

TEST(RouterTest, DuplicateRouteIsRejected) {
  Router router;
  AddOrDie(router, Method::kGet, "/users/{name}");
  Status dup = router.Add(MakeRoute(Method::kGet, "/users/{name}"));
  EXPECT_FALSE(dup.ok());
  EXPECT_EQ(dup.code(), Code::kConflict);
  // Same pattern with another method is fine.
  EXPECT_TRUE(router.Add(MakeRoute(Method::kDelete, "/users/{name}")).ok());
  EXPECT_EQ(router.routes().size(), 2u);
}

TEST(RouterTest, MalformedPercentEncodingIsBadRequest) {
  Router router;
  AddOrDie(router, Method::kGet, "/files/{name}");
  AddOrDie(router, Method::kGet, "/blobs/{rest...}");
  for (const char* path : {"/files/%zz", "/files/abc%2", "/files/%", "/files/%4g",
                           "/blobs/a/%G0/b"}) {
    SCOPED_TRACE(path);
    RouteMatch m = router.Match(Method::kGet, path);
    EXPECT_EQ(m.route, nullptr);
    EXPECT_EQ(m.status.code(), Code::kBadRequest);
  }
}

TEST(RouterTest, EmptyCaptureDoesNotMatch) {
  Router router;
  AddOrDie(router, Method::kGet, "/users/{name}");
  AddOrDie(router, Method::kGet, "/models/{name}@{alias}/artifact");
  AddOrDie(router, Method::kPost, "/v1/models/{name}:predict");
  EXPECT_EQ(router.Match(Method::kGet, "/users/").status.code(), Code::kNotFound);
  EXPECT_EQ(router.Match(Method::kGet, "/models/@prod/artifact").status.code(), Code::kNotFound);
  EXPECT_EQ(router.Match(Method::kGet, "/models/bert@/artifact").status.code(), Code::kNotFound);
  EXPECT_EQ(router.Match(Method::kPost, "/v1/models/:predict").status.code(), Code::kNotFound);
}

TEST(RouterTest, RootAndTrailingSlash) {
  Router router;
  AddOrDie(router, Method::kGet, "/");
  AddOrDie(router, Method::kGet, "/healthz");
  EXPECT_EQ(PatternOf(router.Match(Method::kGet, "/")), "/");
  EXPECT_EQ(PatternOf(router.Match(Method::kGet, "/healthz")), "/healthz");
  EXPECT_EQ(router.Match(Method::kGet, "/healthz/").status.code(), Code::kNotFound);
}

TEST(PercentDecodeTest, DecodesAndRejects) {
  EXPECT_EQ(PercentDecode("a%20b%2F%2f"), std::optional<std::string>("a b//"));
  EXPECT_EQ(PercentDecode(""), std::optional<std::string>(""));
  EXPECT_EQ(PercentDecode("%00").value(), std::string(1, '\0'));
  EXPECT_FALSE(PercentDecode("%").has_value());
  EXPECT_FALSE(PercentDecode("%2").has_value());
  EXPECT_FALSE(PercentDecode("x%g1").has_value());
}

}  // namespace
}  // namespace aimass::http
