// The header block sent upstream: what passes, what is dropped, what the gateway adds, and the
// W3C traceparent it forwards or starts.
#include "gateway/upstream_request.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

namespace aimass::gateway {
namespace {

// Deterministic "randomness": 'a' repeated, two hex digits per byte.
void FixedHex(std::string& out, size_t bytes) { out.append(bytes * 2, 'a'); }

std::vector<std::string> Lines(const std::string& fields) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < fields.size()) {
    size_t end = fields.find("\r\n", at);
    EXPECT_NE(end, std::string::npos) << "every field ends with CRLF: " << fields;
    if (end == std::string::npos) break;
    out.push_back(fields.substr(at, end - at));
    at = end + 2;
  }
  return out;
}

UpstreamFieldsInput Input(const http::Headers& h) {
  UpstreamFieldsInput in;
  in.headers = &h;
  in.client_ip = "10.0.0.7";
  in.request_id = "req-1";
  in.random_hex = &FixedHex;
  return in;
}

TEST(UpstreamRequestTest, PassesTheCallersFieldsAndAddsTheForwardingOnes) {
  http::Headers h;
  h.Add("Host", "api.example.com");
  h.Add("Accept", "application/json");
  h.Add("User-Agent", "curl/8");
  h.Add("X-Forwarded-For", "192.0.2.1");
  UpstreamFieldsInput in = Input(h);
  in.consumer = "shop";
  std::string fields;
  EXPECT_TRUE(AppendUpstreamFields(fields, in));
  EXPECT_EQ(Lines(fields), (std::vector<std::string>{
                               "Accept: application/json",
                               "User-Agent: curl/8",
                               "X-Forwarded-For: 192.0.2.1, 10.0.0.7",
                               "X-Forwarded-Proto: http",
                               "X-Forwarded-Host: api.example.com",
                               "X-Request-Id: req-1",
                               "traceparent: 00-" + std::string(32, 'a') + "-" + std::string(16, 'a') + "-01",
                               "X-Consumer: shop",
                           }));
}

TEST(UpstreamRequestTest, RouteFieldsReplaceTheCallersOfTheSameName) {
  http::Headers h;
  h.Add("Accept", "text/plain");
  h.Add("Authorization", "Bearer consumer-key");
  h.Add("X-Tenant", "spoofed");
  std::vector<std::pair<std::string, std::string>> extra = {{"Authorization", "Bearer platform-key"}, {"x-tenant", "shop"}};
  UpstreamFieldsInput in = Input(h);
  in.extra = &extra;
  std::string fields;
  AppendUpstreamFields(fields, in);
  auto lines = Lines(fields);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "Authorization: Bearer platform-key"), 1);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), "x-tenant: shop"), 1);
  for (const auto& l : lines) {
    EXPECT_EQ(l.find("consumer-key"), std::string::npos) << l;
    EXPECT_EQ(l.find("spoofed"), std::string::npos) << l;
  }
  EXPECT_EQ(lines.front(), "Accept: text/plain");
}

TEST(UpstreamRequestTest, DropsHopByHopFieldsConsumedCredentialsAndSpoofedGatewayFields) {
  http::Headers h;
  for (const char* name : {"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
                           "Proxy-Authorization", "Content-Length", "Authorization", "apikey", "X-API-Key",
                           "X-Request-Id", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Consumer"}) {
    h.Add(name, "x");
  }
  h.Add("X-Kept", "1");
  std::string fields;
  EXPECT_FALSE(AppendUpstreamFields(fields, Input(h)));  // no User-Agent
  std::vector<std::string> lines = Lines(fields);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "X-Kept: 1");
  EXPECT_EQ(lines[1], "X-Forwarded-For: 10.0.0.7");
  EXPECT_EQ(lines[2], "X-Forwarded-Proto: http");
  EXPECT_EQ(lines[3], "X-Request-Id: req-1");
  EXPECT_EQ(fields.find("X-Consumer"), std::string::npos);
  EXPECT_EQ(fields.find("Authorization"), std::string::npos);

  // An anonymous route checked no credential: the upstream gets them.
  UpstreamFieldsInput open = Input(h);
  open.strip_credentials = false;
  std::string passed;
  AppendUpstreamFields(passed, open);
  for (const char* kept : {"Authorization: x", "apikey: x", "X-API-Key: x"}) {
    EXPECT_NE(passed.find(std::string(kept) + "\r\n"), std::string::npos) << kept;
  }
}

TEST(UpstreamRequestTest, ARequestIdOrConsumerWithALineBreakIsNotForwarded) {
  http::Headers h;
  UpstreamFieldsInput in = Input(h);
  in.request_id = "a\r\nInjected: 1";
  in.consumer = "b\nc";
  std::string fields;
  AppendUpstreamFields(fields, in);
  EXPECT_EQ(fields.find("Injected"), std::string::npos);
  EXPECT_EQ(fields.find("X-Request-Id"), std::string::npos);
  EXPECT_EQ(fields.find("X-Consumer"), std::string::npos);
}

TEST(UpstreamRequestTest, KeepsTheCallersTraceAndStartsOneWhenItIsMissingOrMalformed) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  std::string out;
  AppendNextTraceparent(out, "00-" + trace + "-00f067aa0ba902b7-01", &FixedHex);
  EXPECT_EQ(out, "00-" + trace + "-" + std::string(16, 'a') + "-01");
  const std::string fresh = "00-" + std::string(32, 'a') + "-" + std::string(16, 'a') + "-01";
  for (std::string bad : {std::string("garbage"), "00-" + std::string(32, '0') + "-00f067aa0ba902b7-01",
                          "00-" + trace + "-00F067AA0BA902B7-01", "01-" + trace + "-00f067aa0ba902b7-01"}) {
    out.clear();
    AppendNextTraceparent(out, bad, &FixedHex);
    EXPECT_EQ(out, fresh) << bad;
  }
  out.clear();
  AppendNextTraceparent(out, std::nullopt, &FixedHex);
  EXPECT_EQ(out, fresh);
}

TEST(UpstreamRequestTest, ForwardableKnowsTheHopByHopNamesInAnyCase) {
  for (const char* hop : {"te", "HOST", "Trailer", "upgrade", "Connection", "keep-alive", "Content-Length",
                          "Proxy-Connection", "Transfer-Encoding", "Proxy-Authenticate", "Proxy-Authorization"}) {
    EXPECT_FALSE(Forwardable(hop)) << hop;
  }
  for (const char* end_to_end : {"Accept", "tf", "Hosts", "Content-Type", "X-Connection", "Authorization"}) {
    EXPECT_TRUE(Forwardable(end_to_end)) << end_to_end;
  }
}

}  // namespace
}  // namespace aimass::gateway
