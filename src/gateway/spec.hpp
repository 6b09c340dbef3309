// The gateway's configuration objects as users write them (upstreams and routes), with their
// JSON forms for the API and the store, and the validation every write goes through. Plain
// data; the behaviour is in gateway.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"

namespace aimass::gateway {

// One backend of an upstream: an http:// base URL ("http://10.0.0.5:9000" or with a base path
// "http://svc:9000/api", which is put in front of the forwarded path) and its share of traffic.
struct Target {
  std::string url;
  int weight = 100;  // 0..1000; 0 takes no new traffic (draining)
};

// How a request picks a target.
enum class Balance { kRoundRobin, kLeastConnections, kConsistentHash, kEwma };

// Active health checks: each target's `path` is asked every `interval_s`; a target answering
// outside `statuses` (or not at all) `unhealthy_after` times in a row takes no traffic until it
// passes `healthy_after` times in a row.
struct HealthCheckSpec {
  std::string path = "/healthz";
  int64_t interval_s = 5;
  int64_t timeout_ms = 1000;
  int healthy_after = 2;
  int unhealthy_after = 2;
  int min_status = 200, max_status = 399;
};

// The upstream's circuit breaker: when at least `min_requests` attempts in `window_s` failed
// (unreachable or 5xx) at `failure_ratio` or more, the circuit opens and requests fail fast
// (or go to their route's fallback) for `open_s`; then `half_open_requests` trial requests
// decide between closing it and opening it again.
struct CircuitBreakerSpec {
  double failure_ratio = 0.5;
  int64_t min_requests = 20;
  int64_t window_s = 10;
  int64_t open_s = 30;
  int half_open_requests = 3;
};

struct UpstreamSpec {
  std::string name;
  std::vector<Target> targets;
  Balance balance = Balance::kRoundRobin;
  // For consistent hashing: "ip", "header:<name>" or "cookie:<name>".
  std::string hash_on = "ip";
  int64_t timeout_ms = 30000;  // per attempt
  // Extra attempts on another target when a target cannot be reached (idempotent methods only).
  int retries = 1;
  // Passive outlier ejection: a target failing this many times in a row is left out for
  // eject_s seconds (doubling while it keeps failing), then tried again.
  int eject_after_failures = 3;
  int64_t eject_s = 10;
  std::optional<HealthCheckSpec> health_check;
  std::optional<CircuitBreakerSpec> circuit_breaker;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A rate limit's choices, held as enums so that a request compares no strings; their JSON
// names are those of Name() below.
enum class RatePer { kSecond, kMinute, kHour };
enum class RateKey { kConsumer, kRoute, kIp };                // whose allowance a request takes
enum class RateAlgorithm { kTokenBucket, kSlidingWindow };
enum class RatePolicy { kLocal, kRedis };                     // this process, or shared (gateway.redis_url)
std::string_view Name(RatePer v);
std::string_view Name(RateKey v);
std::string_view Name(RateAlgorithm v);
std::string_view Name(RatePolicy v);

// Token bucket (default) or sliding window, per consumer, route or client IP.
struct RateLimitSpec {
  double rate = 0;                 // requests per `per`
  RatePer per = RatePer::kSecond;
  int64_t burst = 0;               // bucket size; 0: equal to rate
  RateKey key = RateKey::kConsumer;
  RateAlgorithm algorithm = RateAlgorithm::kTokenBucket;
  RatePolicy policy = RatePolicy::kLocal;
  double per_seconds() const;
};

// A budget of language-model tokens per minute (prompt + completion, as the answer's
// `usage.total_tokens` says), per consumer, route or client IP: a call is refused while the
// budget is spent, and each answer's tokens are taken from it (OpenAI's TPM limits).
struct TokenLimitSpec {
  int64_t tokens_per_minute = 0;
  RateKey key = RateKey::kConsumer;
};

// Responses kept and answered by the gateway for `ttl_s` (capped by the answer's own
// Cache-Control max-age / s-maxage), for the listed methods; `vary_headers` go into the key.
struct CacheSpec {
  int64_t ttl_s = 30;
  std::vector<std::string> methods = {"GET", "HEAD"};  // POST may be added: its body's hash is in the key
  std::vector<std::string> vary_headers;
  std::vector<int> statuses = {200, 301, 404};
};

// A static answer, or another upstream, that stands in for a route's own upstream: while its
// circuit is open (RouteSpec::fallback) or while the route is degraded (RouteState).
struct Fallback {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string upstream;  // when set, the rest is unused
};

// A path pattern: "/svc/echo" matches that path and everything below it (segment-wise),
// "=/svc/echo" only that path; `{name}` segments capture ("/users/{id}/orders").
struct RouteSpec {
  std::string name;
  std::vector<std::string> hosts;    // empty: any; "*.example.com" matches one label
  std::vector<std::string> paths;    // at least one
  std::vector<std::string> methods;  // empty: any
  std::map<std::string, std::string> headers;  // each must be present with this value
  std::string upstream;      // an upstream by name, or…
  std::string service;       // …a discovered service (its live instances, round robin)
  bool strip_path = false;  // forward what follows the matched path instead of the whole path
  // Replaces the matched part of the path; `{name}` inserts a captured segment.
  std::string rewrite;
  bool anonymous = false;   // no token needed
  // Credentials the route accepts, tried in this order: "platform" (a platform login token or
  // API key in Authorization), "jwt" (a consumer-signed JWT in Authorization), "key" (a
  // consumer API key in `apikey` or `X-API-Key`), "oauth" (a token from /oauth/token).
  std::vector<std::string> auth = {"platform"};
  std::string permission;   // a platform permission the caller must hold (beyond a valid token)
  int64_t timeout_ms = 0;   // 0: the upstream's
  std::optional<RateLimitSpec> rate_limit;
  std::optional<TokenLimitSpec> token_limit;
  std::optional<CacheSpec> cache;
  // Fields set on the upstream request, replacing the caller's of the same name (Kong's
  // request-transformer): e.g. the platform API key a route to the platform's own API sends.
  std::vector<std::pair<std::string, std::string>> request_headers;
  // What the route answers while its upstream's circuit is open. None: 503 with Retry-After.
  std::optional<Fallback> fallback;
  // Where the upstream publishes its OpenAPI document (e.g. "/openapi.json"); its paths are
  // merged into the platform's /openapi.json as this route exposes them.
  std::string openapi_path;
  // The application the route belongs to, as usage analysis groups calls (default: its
  // upstream's or service's name).
  std::string application;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// Parses and validates an API or store document; `name` from the URL wins when given.
Result<UpstreamSpec> ParseUpstream(const nlohmann::json& j);
Result<RouteSpec> ParseRoute(const nlohmann::json& j);
nlohmann::json ToJson(const UpstreamSpec& u);
// {"status","body","content_type"} or {"upstream"}: unknown members and both forms at once
// are refused.
Result<Fallback> ParseFallback(const nlohmann::json& j);
nlohmann::json ToJson(const Fallback& f);
nlohmann::json ToJson(const RouteSpec& r);

std::string_view BalanceName(Balance b);

// Paths the platform answers itself; routes may not claim them.
bool IsReservedPath(std::string_view path);

}  // namespace aimass::gateway
