// Gateway::Impl and what the gateway's files share: the live configuration a request sees
// (Live), one proxied request's state (Exchange), and the request path's helpers. Internal to
// the gateway module: gateway.cpp (configuration, the resolver), consumer_auth.cpp (consumer
// credentials), refresh.cpp (health, discovery, JWKS and service documents in the background),
// proxy.cpp (a request's stages and its attempts upstream).
#pragma once

#include "gateway/gateway.hpp"
#include "common/usage.hpp"

#include <boost/container/small_vector.hpp>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <openssl/crypto.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <atomic>
#include <thread>
#include <unordered_map>

#include "auth/auth.hpp"
#include "auth/jwt.hpp"
#include "auth/middleware.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "gateway/rate_limiter.hpp"
#include "gateway/token_limiter.hpp"
#include "gateway/redis_rate_limiter.hpp"
#include "gateway/response_cache.hpp"
#include "gateway/route_table.hpp"
#include "gateway/upstream_pool.hpp"
#include "gateway/upstream_request.hpp"
#include "http/client.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"
#include "http/push_stream.hpp"

namespace aimass::gateway {

using namespace std::string_view_literals;

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

// Principal::method of a consumer, by how it signed in.
inline constexpr const char* kConsumerJwt = "consumer-jwt";
inline constexpr const char* kConsumerKey = "consumer-key";
inline constexpr const char* kConsumerOAuth = "oauth";

// The configuration being served: rebuilt whole on every change and swapped in, so a request
// sees one consistent version of routes, upstreams and states from start to end.
struct Live {
  std::shared_ptr<const RouteTable> table;
  std::map<std::string, std::shared_ptr<UpstreamPool>, std::less<>> pools;
  std::map<std::string, RouteState, std::less<>> states;
  // Consumers: their principals (roles resolved to permissions), JWT verifier, and the sha256
  // of their API keys and OAuth client secrets.
  std::string consumers_doc;  // the stored consumers, to keep the verifier when unchanged
  std::shared_ptr<ConsumerVerifier> verifier = std::make_shared<ConsumerVerifier>(std::vector<ConsumerSpec>{});
  // One principal per way of signing in (they differ only in `method`), shared by requests.
  struct ConsumerPrincipals {
    std::shared_ptr<const Principal> jwt, key, oauth;
  };
  std::map<std::string, ConsumerPrincipals, std::less<>> consumers;
  std::unordered_map<std::string, std::string> api_keys;  // sha256 hex -> consumer
  std::unordered_map<std::string, std::pair<std::string, std::string>> oauth_clients;  // id -> (consumer, sha256)
};


inline constexpr const char* kOAuthIssuer = "aimass-oauth";

// One proxied request's journey over its attempts; owned by the attempts' callbacks. Made by
// the resolver, which fills in what it found (the route, or why none), and handed to the
// handler through Request::route_state: one allocation per request instead of two. It takes
// the upstream's answer whole or, for server-sent events, forwards it piece by piece (as the
// client's BodyStream).
struct Exchange final : std::enable_shared_from_this<Exchange>, http::BodyStream {
  bool OnHead(const http::ClientResponse& head, std::function<void()> cancel) override;
  void OnData(std::string_view piece) override;

  Gateway::Impl* impl = nullptr;
  std::shared_ptr<const Live> live;  // keeps the pool and route alive
  // What the resolver found.
  std::optional<RouteHit> hit;
  bool dot_segment = false;
  std::shared_ptr<UpstreamPool> pool;
  // The answer and the upstream request live in the exchange and are handed out as pointers
  // that share its ownership (one allocation per request instead of three): the server holds
  // the answer, so the exchange outlives the wait for it.
  http::DeferredResponse answer;
  std::string_view route;  // the name in the route's spec, which `live` keeps
  // Shared with the attempt in flight (retries reuse it rather than copy it); url and
  // start_after are set per attempt, when no other attempt is running.
  http::ClientRequest request;
  std::string path_and_query;
  bool idempotent = false;
  std::string hash_key;
  boost::container::small_vector<size_t, 4> tried;  // inline for the usual few attempts
  Clock::time_point sent;  // of the attempt in flight (attempts run one after another)
  bool last_timed_out = false;  // the last failed attempt ran out of time (504, not 502)
  Clock::time_point start;
  std::string request_id;
  std::string consumer;
  std::string_view application;  // the route's (kept by `live`), for usage analysis
  uint64_t bytes_in = 0;
  bool log = false;
  // The response cache: where a cacheable answer goes, and for how long at most.
  std::string cache_key;
  const CacheSpec* cache = nullptr;  // lives in `live`
  bool trial = false;  // a half-open circuit's trial request
  // The route's rate limit, for the answer's RateLimit-* fields (set when the route has one).
  std::optional<RateDecision> limit;
  // The route's token budget: charged with the answer's usage (set when the route has one).
  const TokenLimitSpec* token_limit = nullptr;  // lives in `live`
  std::string token_key;
  std::optional<TokenDecision> tokens;
  // An event stream forwarded as it comes (set at its head): its status, the time to its head,
  // the bytes passed on, and the usage its events report.
  std::shared_ptr<http::PushStream> stream;
  int stream_status = 0;
  std::chrono::nanoseconds stream_head_latency{0};
  uint64_t stream_bytes = 0;
  UsageScanner stream_usage;
};

// What of a discovered set the route table depends on (service, url and weight per line, in
// the order discovery lists them): two sets with one key route the same.
inline std::string InstanceSetKey(const std::vector<Instance>& instances) {
  std::string key;
  for (const auto& in : instances) key += in.service + ' ' + in.url + ' ' + std::to_string(in.weight) + '\n';
  return key;
}

struct Gateway::Impl {
  Impl(storage::Db& db, auth::AuthService& a, std::shared_ptr<prometheus::Registry> registry, GatewayOptions o)
      : store(db),
        owned_discovery(o.discovery ? nullptr : discovery::MakeStoreDiscovery(db)),
        discovery(o.discovery ? o.discovery : owned_discovery.get()),
        auth(a), options(o), client(http::ClientOptions{o.max_idle_per_host, o.max_response_bytes}),
        cache(o.cache_max_bytes) {
    if (!options.redis_url.empty()) {
      auto r = RedisRateLimiter::Create(options.redis_url);
      if (r.ok()) {
        redis = std::move(*r);
      } else {
        spdlog::error("gateway.redis_url: {}", r.status().message());
      }
    }
    if (options.oauth_secret.size() >= 32) {
      auto jwt = auth::Jwt::Create(auth::JwtKeys{"HS256", options.oauth_secret, "", ""}, kOAuthIssuer);
      if (jwt.ok()) oauth_jwt = std::move(*jwt);
    }
    requests = &prometheus::BuildCounter()
                    .Name("aimass_gateway_requests_total")
                    .Help("Requests through gateway routes by route, upstream and status class")
                    .Register(*registry);
    duration = &prometheus::BuildHistogram()
                    .Name("aimass_gateway_request_duration_seconds")
                    .Help("Gateway request latency by route, total")
                    .Register(*registry);
    upstream_duration = &prometheus::BuildHistogram()
                             .Name("aimass_gateway_upstream_duration_seconds")
                             .Help("Gateway upstream latency by route and upstream (the last attempt)")
                             .Register(*registry);
    circuit_gauge = &prometheus::BuildGauge()
                         .Name("aimass_gateway_upstream_circuit_state")
                         .Help("Circuit breaker per upstream: 0 closed, 1 open, 2 half-open")
                         .Register(*registry);
    bytes = &prometheus::BuildCounter()
                 .Name("aimass_gateway_response_bytes_total")
                 .Help("Response body bytes sent through gateway routes, by route")
                 .Register(*registry);
    fallback.method = http::Method::kOther;
    fallback.pattern = "(gateway)";
    fallback.tag = "gateway";
    fallback.audited = false;  // a proxied request is the upstream's business, not an admin change
    fallback.max_body_bytes = 0;
    fallback.inline_max_body_bytes = 64 * 1024;  // matching and sending never block
    fallback.handler = [this](http::Request& req) { return Handle(req); };
  }

  ~Impl() {
    {
      std::lock_guard lock(refresh_mu);
      stop = true;
    }
    refresh_cv.notify_all();
    if (refresher.joinable()) refresher.join();
  }

  GatewayStore store;
  std::unique_ptr<Discovery> owned_discovery;
  Discovery* discovery;
  // InstanceSetKey of the live instances the current table routes to, to tell when the
  // discovered set changed. Under write_mu.
  std::string routed_instances;
  auth::AuthService& auth;
  GatewayOptions options;
  std::unique_ptr<auth::Jwt> oauth_jwt;  // null: no OAuth tokens (no secret configured)
  http::Client client;
  RateLimiter limiter;
  TokenLimiter tokens;
  ResponseCache cache;
  std::unique_ptr<RedisRateLimiter> redis;  // null: no shared limits
  std::atomic<int64_t> redis_warned_at{0};
  http::Route fallback;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* duration = nullptr;
  prometheus::Family<prometheus::Histogram>* upstream_duration = nullptr;
  prometheus::Family<prometheus::Counter>* bytes = nullptr;
  prometheus::Family<prometheus::Gauge>* circuit_gauge = nullptr;
  struct Series {
    prometheus::Counter* requests[6] = {};  // by status class 1xx..5xx
    prometheus::Histogram* duration = nullptr;
    prometheus::Histogram* upstream_duration = nullptr;
    prometheus::Counter* bytes = nullptr;
  };
  mutable std::mutex docs_mu;
  std::map<std::string, Json> service_paths;  // route -> its public paths
  Clock::time_point next_docs{};
  std::mutex series_mu;
  std::unordered_map<std::string, std::unique_ptr<Series>> series_by_key;  // never erased
  // Names this gateway in Record's per-thread cache (an address could be reused by a later one).
  const uint64_t generation = [] {
    static std::atomic<uint64_t> next{1};
    return next++;
  }();

  std::mutex write_mu;  // one configuration change at a time: store, then rebuild
  mutable std::mutex live_mu;
  std::shared_ptr<const Live> live = [] {
    auto empty = std::make_shared<Live>();
    empty->table = std::make_shared<RouteTable>(std::vector<RouteSpec>{});
    return empty;
  }();

  std::shared_ptr<const Live> Current() const {
    std::lock_guard lock(live_mu);
    return live;
  }
  // Reads the stored configuration into a new Live. `clear_limits`: the routes may have changed.
  Status Rebuild(bool clear_limits = true);
  Status Resolve(http::Request& req);
  Status AuthenticateConsumer(const Live& live, const RouteSpec& route, http::Request& req);
  std::shared_ptr<const Principal> ConsumerPrincipal(const Live& live, const std::string& consumer,
                                                           std::string_view method) const;

  // Background: JWKS fetches and consumers' role permissions.
  std::mutex refresh_mu;
  std::condition_variable refresh_cv;
  bool stop = false;
  bool refresh_now = false;
  std::thread refresher;
  void RefreshLoop();
  void FetchServiceDocs(const Live& live);
  // A request through a gateway route, in stages (proxy.cpp).
  struct Pass {
    Pass(http::Request& r, Exchange& e, const RouteSpec& rt, const Live& l, Clock::time_point s)
        : req(r), x(e), route(rt), live(l), start(s) {}
    http::Request& req;
    Exchange& x;
    const RouteSpec& route;
    const Live& live;
    Clock::time_point start;
    std::string service_pool;       // "service:<name>" for a route to a service
    std::string_view upstream;      // the pool's name: the route's, or its degraded fallback's
    std::string consumer;           // the caller's name, empty: anonymous
    std::optional<RateDecision> limit;
    std::optional<TokenDecision> tokens;
    std::string token_key;
    std::string cache_key;          // set when the answer may be cached
    const CacheSpec* cache_spec = nullptr;
    const std::shared_ptr<UpstreamPool>* pool = nullptr;
    bool trial = false;             // a half-open circuit's trial request
  };
  http::Response Handle(http::Request& req);
  std::optional<http::Response> ApplyRouteState(Pass& p);
  std::optional<http::Response> ApplyRateLimit(Pass& p);
  std::optional<http::Response> ApplyTokenLimit(Pass& p);
  static std::string LimitKey(const Pass& p, RateKey key);
  std::optional<http::Response> ApplyCache(Pass& p);
  std::optional<http::Response> PickUpstream(Pass& p);
  http::Response Dispatch(std::shared_ptr<Exchange> x, Pass& p);
  http::Response StaticAnswer(const Fallback& f, const char* why, Pass& p);
  // Who a call was for, as usage analysis counts it.
  struct Caller {
    std::string_view consumer, application;
    uint64_t bytes_in = 0;
  };
  static Caller CallerOf(const Pass& p);
  void Record(std::string_view route, std::string_view upstream, int status, Clock::time_point start,
              std::optional<std::chrono::nanoseconds> upstream_latency, size_t body_bytes, const Caller& caller);
  std::atomic<UsageSink*> usage{nullptr};
};

// The request path's helpers (proxy.cpp).
// Sends the exchange's request to the next target of its pool; finishes the exchange when an
// answer comes or every attempt failed.
void Attempt(std::shared_ptr<Exchange> x);

}  // namespace aimass::gateway
