#include "gateway/gateway.hpp"

#include <boost/container/small_vector.hpp>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <openssl/crypto.h>

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
#include "gateway/redis_rate_limiter.hpp"
#include "gateway/response_cache.hpp"
#include "gateway/route_table.hpp"
#include "gateway/upstream_pool.hpp"
#include "http/client.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"

namespace aimass::gateway {

using namespace std::string_view_literals;

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

namespace {

// Principal::method of a consumer, by how it signed in.
constexpr const char* kConsumerJwt = "consumer-jwt";
constexpr const char* kConsumerKey = "consumer-key";
constexpr const char* kConsumerOAuth = "oauth";

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

constexpr const char* kOAuthIssuer = "aimass-oauth";

// One proxied request's journey over its attempts; owned by the attempts' callbacks. Made by
// the resolver, which fills in what it found (the route, or why none), and handed to the
// handler through Request::route_state: one allocation per request instead of two.
struct Exchange : std::enable_shared_from_this<Exchange> {
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
  bool log = false;
  // The response cache: where a cacheable answer goes, and for how long at most.
  std::string cache_key;
  const CacheSpec* cache = nullptr;  // lives in `live`
  bool trial = false;  // a half-open circuit's trial request
  // The route's rate limit, for the answer's RateLimit-* fields (set when the route has one).
  std::optional<RateDecision> limit;
};

// Hop-by-hop headers (RFC 9110 §7.6.1) and those the client or server sets itself. Runs for
// every field both ways: the name's length picks the one or two names it could be.
bool Forwardable(std::string_view name) {
  auto is = [&](std::string_view d) { return http::EqualsIgnoreCase(name, d); };
  switch (name.size()) {
    case 2: return !is("te");
    case 4: return !is("host");
    case 7: return !is("trailer") && !is("upgrade");
    case 10: return !is("connection") && !is("keep-alive");
    case 14: return !is("content-length");
    case 16: return !is("proxy-connection");
    case 17: return !is("transfer-encoding");
    case 18: return !is("proxy-authenticate");
    case 19: return !is("proxy-authorization");
    default: return true;
  }
}

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c)); });
}

// W3C Trace Context: keep the caller's trace id and flags, name this hop as the new parent; a
// missing or malformed header starts a new trace. Appends the 55-character value to `out`.
void AppendNextTraceparent(std::string& out, std::optional<std::string_view> incoming) {
  if (incoming && incoming->size() == 55 && incoming->substr(0, 3) == "00-" && (*incoming)[35] == '-' &&
      (*incoming)[52] == '-') {
    std::string_view trace = incoming->substr(3, 32), flags = incoming->substr(53, 2);
    if (IsHex(trace) && IsHex(incoming->substr(36, 16)) && IsHex(flags) &&
        trace.find_first_not_of('0') != std::string_view::npos) {
      out.append("00-"sv).append(trace).append("-"sv);
      AppendUniqueHex(out, 8);
      out.append("-"sv).append(flags);
      return;
    }
  }
  out.append("00-"sv);
  AppendUniqueHex(out, 16);
  out.append("-"sv);
  AppendUniqueHex(out, 8);
  out.append("-01"sv);
}

bool Idempotent(http::Method m) {
  return m == http::Method::kGet || m == http::Method::kHead || m == http::Method::kPut ||
         m == http::Method::kDelete || m == http::Method::kOptions;
}

std::string_view ClientIp(const http::Request& req) {
  std::string_view r = req.remote;
  if (size_t colon = r.rfind(':'); colon != std::string_view::npos) r = r.substr(0, colon);
  if (r.starts_with('[') && r.ends_with(']')) r = r.substr(1, r.size() - 2);
  return r;
}

std::string HashKey(const UpstreamSpec& u, const http::Request& req) {
  if (u.hash_on.starts_with("header:")) return std::string(req.headers.Get(u.hash_on.substr(7)).value_or(""));
  if (u.hash_on.starts_with("cookie:")) {
    std::string want = u.hash_on.substr(7);
    std::string_view cookies = req.headers.Get("Cookie").value_or("");
    while (!cookies.empty()) {
      size_t semi = cookies.find(';');
      std::string_view pair = cookies.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      if (pair.starts_with(want) && pair.size() > want.size() && pair[want.size()] == '=') {
        return std::string(pair.substr(want.size() + 1));
      }
      if (semi == std::string_view::npos) break;
      cookies.remove_prefix(semi + 1);
    }
    return "";
  }
  return std::string(ClientIp(req));
}


}  // namespace

struct Gateway::Impl {
  Impl(storage::Db& db, auth::AuthService& a, std::shared_ptr<prometheus::Registry> registry, GatewayOptions o)
      : store(db), discovery(MakeStoreDiscovery(db)), auth(a), options(o), client(http::ClientOptions{o.max_idle_per_host, o.max_response_bytes}),
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
  std::unique_ptr<Discovery> discovery;
  auth::AuthService& auth;
  GatewayOptions options;
  std::unique_ptr<auth::Jwt> oauth_jwt;  // null: no OAuth tokens (no secret configured)
  http::Client client;
  RateLimiter limiter;
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
  http::Response Handle(http::Request& req);
  http::Response StaticAnswer(const RouteSpec& route, const Fallback& f, const char* why, Clock::time_point start);
  void Record(std::string_view route, std::string_view upstream, int status, Clock::time_point start,
              std::optional<std::chrono::nanoseconds> upstream_latency, size_t body_bytes);
};

namespace {

class Resolver : public http::Middleware {
 public:
  explicit Resolver(Gateway::Impl* impl) : impl_(impl) {}
  Status Admit(http::Request& req) override { return impl_->Resolve(req); }
  http::Response Handle(http::Request& req, const http::Next& next) override {
    if (req.early_error.ok() && !req.route_state) {
      if (Status st = impl_->Resolve(req); !st.ok()) {
        http::Response r = http::ErrorFor(req, st);
        if (st.code() == Code::kUnauthenticated) r.headers.Set("WWW-Authenticate", "Bearer");
        return r;
      }
    }
    return next(req);
  }

 private:
  Gateway::Impl* impl_;
};

}  // namespace

Status Gateway::Impl::Rebuild(bool clear_limits) {
  AIMASS_ASSIGN_OR_RETURN(auto ups, store.Upstreams());
  AIMASS_ASSIGN_OR_RETURN(auto routes, store.Routes());
  AIMASS_ASSIGN_OR_RETURN(auto consumers, store.Consumers());
  AIMASS_ASSIGN_OR_RETURN(auto secrets, store.Secrets());
  auto old = Current();
  auto next = std::make_shared<Live>();
  // An unchanged upstream keeps its pool, and with it its ejections and latency averages.
  auto place = [&](UpstreamSpec u) {
    auto it = old->pools.find(u.name);
    if (it != old->pools.end()) {
      Json have = ToJson(it->second->spec()), want = ToJson(u);
      have.erase("updated_at");
      want.erase("updated_at");
      if (have == want) {
        next->pools[u.name] = it->second;
        return;
      }
    }
    std::string name = u.name;  // (the right side of `=` runs first and moves u)
    next->pools[name] = std::make_shared<UpstreamPool>(std::move(u));
  };
  for (auto& u : ups) place(std::move(u));
  // Each discovered service is an upstream of its live instances, named "service:<name>".
  AIMASS_ASSIGN_OR_RETURN(auto instances, discovery->Instances(std::nullopt));
  std::map<std::string, UpstreamSpec> services;
  for (const auto& in : instances) {
    UpstreamSpec& u = services[in.service];
    u.name = "service:" + in.service;
    u.targets.push_back({in.url, in.weight});
  }
  for (auto& [_, u] : services) place(std::move(u));
  std::vector<RouteSpec> specs;
  for (auto& [spec, state] : routes) {
    next->states[spec.name] = state;
    specs.push_back(std::move(spec));
  }
  next->table = std::make_shared<RouteTable>(std::move(specs));

  Json doc = Json::array();
  for (const auto& c : consumers) doc.push_back(ToJson(c, true));
  next->consumers_doc = doc.dump();
  // Unchanged consumers keep their verifier, and with it the JWKS keys fetched so far.
  next->verifier = next->consumers_doc == old->consumers_doc ? old->verifier : std::make_shared<ConsumerVerifier>(consumers);
  for (const auto& c : consumers) {
    Principal p;
    p.username = c.name;
    p.roles = c.roles;
    for (const auto& role : c.roles) {
      auto r = auth.GetRole(role);
      if (!r.ok()) continue;  // a deleted role grants nothing
      p.permissions.insert(p.permissions.end(), r->permissions.begin(), r->permissions.end());
    }
    auto with = [&p](const char* method) {
      auto shared = std::make_shared<Principal>(p);
      shared->method = method;
      return std::shared_ptr<const Principal>(std::move(shared));
    };
    next->consumers[c.name] = {with(kConsumerJwt), with(kConsumerKey), with(kConsumerOAuth)};
  }
  for (const auto& s : secrets) {
    if (s.kind == "apikey") next->api_keys[s.hash] = s.consumer;
    if (s.kind == "oauth") next->oauth_clients[s.id] = {s.consumer, s.hash};
  }
  {
    std::lock_guard lock(live_mu);
    live = std::move(next);
  }
  if (clear_limits) limiter.Clear();
  {
    std::lock_guard lock(docs_mu);
    next_docs = {};  // routes may have changed: read the services' documents again
  }
  return Status::Ok();
}

std::shared_ptr<const Principal> Gateway::Impl::ConsumerPrincipal(const Live& live, const std::string& consumer,
                                                                        std::string_view method) const {
  if (auto it = live.consumers.find(consumer); it != live.consumers.end()) {
    const auto& c = it->second;
    return method == kConsumerJwt ? c.jwt : method == kConsumerKey ? c.key : c.oauth;
  }
  // A consumer deleted since its token was verified: its name, and no permissions.
  auto p = std::make_shared<Principal>();
  p->username = consumer;
  p->method = method;
  return p;
}

// A route's consumer credentials, in the route's order. A credential that is presented for a
// method and fails is refused (no falling through to a weaker method); a platform token is
// left to AccessControl.
Status Gateway::Impl::AuthenticateConsumer(const Live& live, const RouteSpec& route, http::Request& req) {
  auto bearer = auth::BearerToken(req);
  const int64_t now = UnixNowMs() / 1000;
  std::optional<std::string> issuer;
  bool peeked = false;
  for (const auto& method : route.auth) {
    if (method == "jwt" && bearer) {
      if (auto consumer = live.verifier->Cached(*bearer, now)) {
        req.principal = ConsumerPrincipal(live, *consumer, kConsumerJwt);
        return Status::Ok();
      }
    }
    if (!peeked && bearer && (method == "jwt" || method == "oauth")) {
      issuer = PeekIssuer(*bearer);
      peeked = true;
    }
    if (method == "key") {
      auto key = req.headers.Get("apikey");
      if (!key) key = req.headers.Get("X-API-Key");
      if (!key) continue;
      auto it = live.api_keys.find(Sha256Hex(*key));
      if (it == live.api_keys.end()) return Status::Unauthenticated("unknown API key");
      req.principal = ConsumerPrincipal(live, it->second, kConsumerKey);
      return Status::Ok();
    }
    if (method == "jwt" && issuer && live.verifier->HasIssuer(*issuer)) {
      AIMASS_ASSIGN_OR_RETURN(std::string consumer, live.verifier->Verify(*bearer, now));
      req.principal = ConsumerPrincipal(live, consumer, kConsumerJwt);
      return Status::Ok();
    }
    if (method == "oauth" && issuer && *issuer == kOAuthIssuer) {
      if (!oauth_jwt) return Status::Unauthenticated("this gateway issues no OAuth tokens");
      AIMASS_ASSIGN_OR_RETURN(Json claims, oauth_jwt->Verify(*bearer, now));
      std::string consumer = claims.value("sub", "");
      std::string client = claims.value("client_id", "");
      auto c = live.oauth_clients.find(client);
      if (c == live.oauth_clients.end() || c->second.first != consumer) {
        return Status::Unauthenticated("the token's OAuth client no longer exists");
      }
      req.principal = ConsumerPrincipal(live, consumer, kConsumerOAuth);
      return Status::Ok();
    }
    if (method == "platform" && bearer) return Status::Ok();  // AccessControl verifies it
  }
  if (std::find(route.auth.begin(), route.auth.end(), "platform") != route.auth.end()) return Status::Ok();
  std::string accepted;
  for (const auto& m : route.auth) accepted += (accepted.empty() ? "" : ", ") + m;
  return Status::Unauthenticated("route '" + route.name + "' needs a credential: " + accepted);
}

// Every minute (and after any change), each route with an openapi_path has its upstream's
// document read from the first target and its paths mapped to the ones the route exposes.
void Gateway::Impl::FetchServiceDocs(const Live& live) {
  {
    std::lock_guard lock(docs_mu);
    if (Clock::now() < next_docs) return;
    next_docs = Clock::now() + std::chrono::seconds(60);
  }
  std::map<std::string, Json> fresh;
  for (const auto& route : live.table->routes()) {
    if (route.openapi_path.empty() || !route.rewrite.empty()) continue;
    auto pool = live.pools.find(route.upstream.empty() ? "service:" + route.service : route.upstream);
    if (pool == live.pools.end() || pool->second->spec().targets.empty()) continue;
    http::ClientRequest get;
    get.url = pool->second->spec().targets[0].url + route.openapi_path;
    get.timeout = std::chrono::seconds(5);
    auto got = client.Send(get);
    if (!got.ok() || got->status != 200) {
      spdlog::warn("gateway route {}: OpenAPI document {} not read", route.name, get.url);
      continue;
    }
    Json doc = Json::parse(got->body, nullptr, false);
    if (!doc.is_object() || !doc.contains("paths") || !doc["paths"].is_object()) continue;
    std::string prefix = route.paths.empty() ? "" : route.paths[0];
    if (prefix.starts_with("=")) prefix.erase(0, 1);
    Json paths = Json::object();
    for (const auto& [path, item] : doc["paths"].items()) {
      if (!item.is_object()) continue;
      // What a caller of the gateway writes: the prefix in front when the route strips it;
      // otherwise the upstream's own path, if the route reaches it.
      std::string exposed = route.strip_path ? (path == "/" ? prefix : prefix + path) : path;
      if (!route.strip_path && !(exposed == prefix || exposed.starts_with(prefix + "/"))) continue;
      Json ops = item;
      for (auto& [method, op] : ops.items()) {
        if (op.is_object()) op["tags"] = Json::array({"gateway route " + route.name});
      }
      paths[exposed] = std::move(ops);
    }
    fresh[route.name] = std::move(paths);
  }
  std::lock_guard lock(docs_mu);
  service_paths = std::move(fresh);
}

void Gateway::Impl::RefreshLoop() {
  auto next_roles = Clock::now() + std::chrono::seconds(10);
  std::unique_lock lock(refresh_mu);
  while (!stop) {
    refresh_cv.wait_for(lock, std::chrono::seconds(1), [this] { return stop || refresh_now; });
    if (stop) break;
    refresh_now = false;
    lock.unlock();
    auto current = Current();
    for (const auto& url : current->verifier->JwksDue(Clock::now())) {
      http::ClientRequest get;
      get.url = url;
      get.timeout = std::chrono::seconds(5);
      auto got = client.Send(get);
      Result<std::string> doc = !got.ok() ? Result<std::string>(got.status())
                                : got->status != 200 ? Result<std::string>(Status::Unavailable("JWKS answered " + std::to_string(got->status)))
                                                     : Result<std::string>(std::move(got->body));
      if (!doc.ok()) spdlog::warn("gateway: JWKS {} not fetched: {}", url, doc.status().message());
      current->verifier->SetJwks(url, doc, Clock::now());
    }
    if (auto expired = discovery->Expire(UnixNowMs()); expired.ok() && *expired) {
      std::lock_guard write(write_mu);
      if (Status st = Rebuild(false); !st.ok()) spdlog::warn("gateway: rebuild after expiry failed: {}", st.ToString());
      current = Current();
    }
    for (const auto& [name, pool] : current->pools) {
      circuit_gauge->Add({{"upstream", name}}).Set(static_cast<double>(pool->circuit()));
      if (!pool->HealthCheckDue(Clock::now())) continue;
      const HealthCheckSpec& hc = *pool->spec().health_check;
      for (size_t i = 0; i < pool->spec().targets.size(); ++i) {
        http::ClientRequest get;
        get.url = pool->spec().targets[i].url + hc.path;
        get.timeout = std::chrono::milliseconds(hc.timeout_ms);
        get.headers.emplace_back("User-Agent", "aimass-gateway-health");
        auto got = client.Send(get);
        pool->SetCheckResult(i, got.ok() && got->status >= hc.min_status && got->status <= hc.max_status);
      }
    }
    FetchServiceDocs(*current);
    if (Clock::now() >= next_roles) {
      // Roles may have been given or taken permissions since: re-read them.
      next_roles = Clock::now() + std::chrono::seconds(10);
      std::lock_guard write(write_mu);
      if (Status st = Rebuild(false); !st.ok()) spdlog::warn("gateway: refresh failed: {}", st.ToString());
    }
    lock.lock();
  }
}

Status Gateway::Impl::Resolve(http::Request& req) {
  if (req.route != &fallback || req.route_state) return Status::Ok();
  auto r = std::make_shared<Exchange>();
  r->live = Current();
  r->dot_segment = HasDotSegment(req.path);
  if (!r->dot_segment) {
    r->hit = r->live->table->Match(req.headers.Get("Host").value_or(""), req.method, req.path, req.headers);
  }
  // No route (answered 404) and refused paths need no token; a route says what it needs.
  http::Request::Access access;
  access.anonymous = !r->hit || r->hit->route->anonymous;
  if (r->hit) access.permission = r->hit->route->permission;
  req.access = std::move(access);
  req.route_state = r;
  if (!r->hit || r->hit->route->anonymous) return Status::Ok();
  return AuthenticateConsumer(*r->live, *r->hit->route, req);
}

void Gateway::Impl::Record(std::string_view route_name, std::string_view upstream_name, int status,
                           Clock::time_point start, std::optional<std::chrono::nanoseconds> upstream_latency,
                           size_t body_bytes) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                   0.1,    0.25,  0.5,    1,     2.5,  5,    10};
  // The series of a (route, upstream) are looked up once: a prometheus Add builds a label map
  // and hashes it under the family's lock, which is most of what recording would cost.
  // The series recorded last on this thread: a run of requests to one route finds it without
  // building a key, hashing it and taking the lock.
  thread_local struct {
    uint64_t generation = 0;
    std::string route, upstream;
    Series* series = nullptr;
  } last;
  Series* series = nullptr;
  if (last.generation == generation && last.route == route_name && last.upstream == upstream_name) {
    series = last.series;
  } else {
    // The key is built in a per-thread buffer: a lookup allocates nothing.
    thread_local std::string key;
    key.assign(route_name).append(1, '\n').append(upstream_name);
    std::lock_guard lock(series_mu);
    auto& slot = series_by_key[key];
    if (!slot) {
      std::string route(route_name), upstream(upstream_name);
      slot = std::make_unique<Series>();
      for (int c = 1; c <= 5; ++c) {
        slot->requests[c] = &requests->Add({{"route", route}, {"upstream", upstream}, {"status_class", std::to_string(c) + "xx"}});
      }
      slot->duration = &duration->Add({{"route", route}}, kBuckets);
      slot->upstream_duration = &upstream_duration->Add({{"route", route}, {"upstream", upstream}}, kBuckets);
      slot->bytes = &bytes->Add({{"route", route}});
    }
    series = slot.get();
    last.generation = generation;
    last.route = route_name;
    last.upstream = upstream_name;
    last.series = series;
  }
  series->requests[std::clamp(status / 100, 1, 5)]->Increment();
  series->duration->Observe(std::chrono::duration<double>(Clock::now() - start).count());
  if (upstream_latency) series->upstream_duration->Observe(std::chrono::duration<double>(*upstream_latency).count());
  series->bytes->Increment(static_cast<double>(body_bytes));
}

namespace {

// Directive `name` of a Cache-Control value: present, and its number when it has one.
std::optional<int64_t> CacheDirective(std::string_view value, std::string_view name) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view d = value.substr(0, comma);
    while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
    while (!d.empty() && d.back() == ' ') d.remove_suffix(1);
    std::string_view key = d.substr(0, d.find('='));
    if (http::EqualsIgnoreCase(key, name)) {
      if (key.size() == d.size()) return -1;
      try {
        return std::stoll(std::string(d.substr(key.size() + 1)));
      } catch (...) {
        return -1;
      }
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

// Stores an upstream answer the route may cache: a listed status, and no Cache-Control of the
// answer's forbidding it; its max-age / s-maxage shortens the route's TTL.
void MaybeStore(Exchange& x, const http::Response& r) {
  if (!x.cache || x.cache_key.empty()) return;
  if (std::find(x.cache->statuses.begin(), x.cache->statuses.end(), r.status) == x.cache->statuses.end()) return;
  int64_t ttl = x.cache->ttl_s;
  if (auto cc = r.headers.Get("Cache-Control")) {
    if (CacheDirective(*cc, "no-store") || CacheDirective(*cc, "private") || CacheDirective(*cc, "no-cache")) return;
    auto age = CacheDirective(*cc, "s-maxage");
    if (!age) age = CacheDirective(*cc, "max-age");
    if (age && *age >= 0) ttl = std::min(ttl, *age);
  }
  if (r.headers.Get("Set-Cookie")) return;  // a per-client answer
  if (ttl <= 0) return;
  ResponseCache::Entry e;
  e.status = r.status;
  for (auto [name, value] : r.headers.all()) e.headers.emplace_back(name, value);
  e.body = r.body;
  e.route = x.route;
  e.stored = Clock::now();
  e.expires = e.stored + std::chrono::seconds(ttl);
  x.impl->cache.Put(x.cache_key, std::move(e));
}

void Attempt(std::shared_ptr<Exchange> x);

void Finish(const std::shared_ptr<Exchange>& x, http::Response&& r, std::optional<std::chrono::nanoseconds> upstream_latency,
            const std::string& target) {
  size_t body = r.body.size();
  int status = r.status;
  x->pool->ReportOutcome(status >= 500, x->trial);
  x->impl->Record(x->route, x->pool->spec().name, status, x->start, upstream_latency, body);
  if (x->log) {
    spdlog::info("gateway route={} upstream={} target={} consumer={} status={} total_ms={:.3f} upstream_ms={:.3f} "
                 "attempts={} request_id={}",
                 x->route, x->pool->spec().name, target.empty() ? "-" : target, x->consumer.empty() ? "-" : x->consumer,
                 status, std::chrono::duration<double, std::milli>(Clock::now() - x->start).count(),
                 upstream_latency ? std::chrono::duration<double, std::milli>(*upstream_latency).count() : 0.0,
                 x->tried.size(), x->request_id);
  }
  x->answer.Complete(std::move(r));
}

// Why every attempt failed, by the last one: an upstream that ran out of time is a timeout
// (504) whichever path gave up on it, a retry with no target left to try included.
Status AttemptsFailed(const Exchange& x) {
  const std::string& name = x.pool->spec().name;
  if (x.last_timed_out) return Status::DeadlineExceeded("upstream '" + name + "' did not answer in time");
  return Status::BadGateway("upstream '" + name + "' could not be reached");
}

void Attempt(std::shared_ptr<Exchange> x) {
  auto picked = x->pool->Pick(x->hash_key, x->tried);
  if (!picked) {
    Finish(x,
           http::ErrorResponse(x->tried.empty() ? Status::Unavailable("upstream '" + x->pool->spec().name + "' has no target taking traffic")
                                                : AttemptsFailed(*x),
                               x->request_id),
           std::nullopt, "");
    return;
  }
  size_t i = *picked;
  x->tried.push_back(i);
  const std::string& target = x->pool->spec().targets[i].url;
  http::ClientRequest& req = x->request;
  const http::Url* base = x->pool->url(i);
  if (!base) req.url.assign(target).append(x->path_and_query);  // refused by the client, as it should be
  if (x->tried.size() > 1) {
    req.start_after = std::chrono::milliseconds(25 << std::min<size_t>(x->tried.size() - 2, 5));  // backoff
  }
  x->sent = Clock::now() + req.start_after;
  // The callback captures a plain pointer, so that std::function keeps it inline (a wider
  // capture cost an allocation per request). The exchange is alive when it runs: the client
  // holds the request, which shares the exchange's ownership, until the callback returns.
  auto on_answer = [ex = x.get()](Result<http::ClientResponse> got) {
    std::shared_ptr<Exchange> x = ex->shared_from_this();
    size_t i = x->tried.back();
    const std::string& target = x->pool->spec().targets[i].url;
    auto latency = Clock::now() - x->sent;
    x->pool->Finish(i, got.ok(), latency);
    if (!got.ok()) {
      const UpstreamSpec& u = x->pool->spec();
      x->last_timed_out = got.status().code() == Code::kDeadlineExceeded;
      if (x->idempotent && static_cast<int>(x->tried.size()) <= u.retries && !x->answer.done()) {
        Attempt(x);
        return;
      }
      spdlog::warn("gateway route {}: target {} failed: {} (request {})", x->route, target, got.status().message(),
                   x->request_id);
      Finish(x, http::ErrorResponse(AttemptsFailed(*x), x->request_id), std::nullopt, target);
      return;
    }
    http::Response r;
    r.status = got->status;
    std::optional<uint64_t> head_length;
    if (x->request.method == http::Method::kHead) {
      // A HEAD answer has no body but says how long the GET's would be.
      if (auto length = got->headers.Get("Content-Length")) {
        uint64_t n = 0;
        auto [p, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
        if (ec == std::errc() && p == length->data() + length->size()) head_length = n;
      }
    }
    r.headers = std::move(got->headers);
    // The answer names this server, not the upstream's software (as nginx and Envoy do; two
    // Server fields would be malformed).
    r.headers.EraseIf([](std::string_view name) { return !Forwardable(name) || http::EqualsIgnoreCase(name, "server"); });
    r.content_length_override = head_length;
    r.body = std::move(got->body);
    MaybeStore(*x, r);
    if (x->cache) r.headers.Set("X-Cache", x->cache_key.empty() ? "BYPASS" : "MISS");
    Finish(x, std::move(r), latency, target);
  };
  std::shared_ptr<const http::ClientRequest> shared(x, &x->request);
  if (!base) return x->impl->client.SendAsync(std::move(shared), std::move(on_answer));
  x->impl->client.SendAsync(http::Url{base->host, base->port, base->target + x->path_and_query}, std::move(shared),
                            std::move(on_answer));
}

}  // namespace

// A fallback's static answer, marked X-Degraded with why.
http::Response Gateway::Impl::StaticAnswer(const RouteSpec& route, const Fallback& f, const char* why,
                                           Clock::time_point start) {
  http::Response r;
  r.status = f.status;
  r.headers.Set("Content-Type", f.content_type);
  r.headers.Set("X-Degraded", why);
  r.body = f.body;
  Record(route.name, "(fallback)", r.status, start, std::nullopt, r.body.size());
  return r;
}

http::Response Gateway::Impl::Handle(http::Request& req) {
  auto start = Clock::now();
  if (!req.route_state) {
    if (Status st = Resolve(req); !st.ok()) return http::ErrorResponse(st, req.request_id);
  }
  // The resolver made the exchange for this handler alone; it is filled in from here on.
  auto x = std::static_pointer_cast<Exchange>(std::const_pointer_cast<void>(req.route_state));
  if (x->dot_segment) return http::ErrorResponse(Status::BadRequest("the path has a '.' or '..' segment"), req.request_id);
  // The request keeps no name for a method outside the seven it knows, so it could not be
  // forwarded as sent.
  if (req.method == http::Method::kOther) {
    return http::ErrorResponse(Status(Code::kMethodNotAllowed, "the gateway forwards GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS only"), req.request_id);
  }
  if (!x->hit) return http::ErrorResponse(Status::NotFound("no route matches " + std::string(http::MethodName(req.method)) + " " + req.path.substr(0, 200)), req.request_id);
  const RouteSpec& route = *x->hit->route;
  const Live& live = *x->live;

  std::string service_pool;  // a route to a service has the pool "service:<name>"
  if (route.upstream.empty()) service_pool = "service:" + route.service;
  std::string_view upstream = route.upstream.empty() ? std::string_view(service_pool) : route.upstream;
  if (auto st = live.states.find(route.name); st != live.states.end()) {
    const RouteState& s = st->second;
    if (s.mode == "paused") {
      http::Response r = http::ErrorResponse(Status::Unavailable("route '" + route.name + "' is paused" + (s.reason.empty() ? "" : ": " + s.reason)), req.request_id);
      r.headers.Set("Retry-After", std::to_string(s.retry_after_s));
      Record(route.name, upstream, r.status, start, std::nullopt, r.body.size());
      return r;
    }
    if (s.mode == "degraded") {
      if (s.fallback.upstream.empty()) return StaticAnswer(route, s.fallback, "1", start);
      upstream = s.fallback.upstream;
    }
  }

  std::string consumer = req.principal ? req.principal->username : "";
  std::optional<RateDecision> limit;
  if (route.rate_limit) {
    const RateLimitSpec& rl = *route.rate_limit;
    // A platform user and a consumer may share a name; their allowances are separate.
    bool is_consumer = req.principal && req.principal->method != "jwt" && req.principal->method != "apikey";
    std::string key = rl.key == "route" ? "r:" + route.name
                      : rl.key == "consumer" && !consumer.empty()
                          ? "c:" + route.name + ":" + (is_consumer ? "consumer/" : "user/") + consumer
                          : "i:" + route.name + ":" + std::string(ClientIp(req));
    if (rl.policy == "redis" && redis) {
      auto shared = redis->Take(key, rl);
      if (shared.ok()) {
        limit = *shared;
      } else {
        // Fail open, as Kong's fault-tolerant limits do: a Redis outage must not take every
        // limited route down with it. Said in the log at most once a minute.
        int64_t now = UnixNowMs(), last = redis_warned_at.load();
        if (now - last > 60000 && redis_warned_at.compare_exchange_strong(last, now)) {
          spdlog::warn("gateway: shared rate limit unavailable, allowing requests: {}", shared.status().message());
        }
      }
    } else {
      limit = limiter.Take(key, rl);
    }
    if (limit && !limit->allowed) {
      http::Response r = http::ErrorResponse(Status(Code::kRateLimited, "rate limit of route '" + route.name + "' exceeded"), req.request_id);
      r.headers.Set("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(limit->retry_after_s))));
      r.headers.Set("RateLimit-Limit", std::to_string(limit->limit));
      r.headers.Set("RateLimit-Remaining", "0");
      r.headers.Set("RateLimit-Reset", std::to_string(static_cast<int64_t>(std::ceil(limit->reset_s))));
      Record(route.name, upstream, r.status, start, std::nullopt, r.body.size());
      return r;
    }
  }

  // The response cache: answer from it, or note where the upstream's answer goes.
  std::string cache_key;
  const CacheSpec* cache_spec = nullptr;
  if (route.cache && std::find(route.cache->methods.begin(), route.cache->methods.end(), http::MethodName(req.method)) !=
                         route.cache->methods.end()) {
    cache_spec = &*route.cache;
    std::string_view cc = req.headers.Get("Cache-Control").value_or("");
    if (!CacheDirective(cc, "no-store")) {
      cache_key = route.name + '\n' + std::string(http::MethodName(req.method)) + '\n' +
                  std::string(req.headers.Get("Host").value_or("")) + '\n' + req.path + '?' + req.query + '\n';
      // Callers of a route with access control may be answered differently by the upstream.
      if (!route.anonymous && req.principal) cache_key += req.principal->method + '/' + req.principal->username + '\n';
      for (const auto& h : route.cache->vary_headers) cache_key += h + '=' + std::string(req.headers.Get(h).value_or("")) + '\n';
      if (req.method == http::Method::kPost) cache_key += Sha256Hex(req.body);
      bool revalidate = CacheDirective(cc, "no-cache") || req.headers.Get("Pragma").value_or("") == "no-cache";
      if (auto hit = revalidate ? nullptr : cache.Get(cache_key)) {
        http::Response r;
        r.status = hit->status;
        for (const auto& [name, value] : hit->headers) r.headers.Add(name, value);
        r.headers.Set("X-Cache", "HIT");
        r.headers.Set("Age", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - hit->stored).count()));
        r.body = hit->body;
        Record(route.name, "(cache)", r.status, start, std::nullopt, r.body.size());
        return r;
      }
    }
  }

  auto pool_it = live.pools.find(upstream);
  if (pool_it == live.pools.end()) {
    Status st = route.upstream.empty() && upstream == service_pool
                    ? Status::Unavailable("service '" + route.service + "' has no live instances")
                    : Status::Unavailable("upstream '" + std::string(upstream) + "' is not configured");
    http::Response r = http::ErrorResponse(st, req.request_id);
    r.headers.Set("Retry-After", "1");
    Record(route.name, upstream, r.status, start, std::nullopt, r.body.size());
    return r;
  }
  // The circuit breaker: an open circuit degrades the route to its fallback, or fails fast.
  UpstreamPool::Admission admission = pool_it->second->AdmitRequest();
  if (!admission.allowed) {
    auto fallback_pool = route.fallback && !route.fallback->upstream.empty() ? live.pools.find(route.fallback->upstream)
                                                                            : live.pools.end();
    if (fallback_pool != live.pools.end()) {
      pool_it = fallback_pool;
      admission = pool_it->second->AdmitRequest();
    }
    if (!admission.allowed && route.fallback && route.fallback->upstream.empty()) {
      return StaticAnswer(route, *route.fallback, "circuit-open", start);
    }
    if (!admission.allowed) {
      http::Response r = http::ErrorResponse(
          Status::Unavailable("the circuit of upstream '" + pool_it->second->spec().name + "' is open"), req.request_id);
      r.headers.Set("Retry-After", std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(admission.retry_after_s)))));
      Record(route.name, pool_it->second->spec().name, r.status, start, std::nullopt, r.body.size());
      return r;
    }
  }

  x->impl = this;
  x->pool = pool_it->second;
  x->route = route.name;
  x->start = start;
  x->request_id = req.request_id;
  x->consumer = consumer;
  x->log = options.access_log;
  x->cache_key = std::move(cache_key);
  x->cache = cache_spec;
  x->trial = admission.trial;
  x->idempotent = Idempotent(req.method);
  x->hash_key = x->pool->spec().balance == Balance::kConsistentHash ? HashKey(x->pool->spec(), req) : "";
  x->path_and_query.reserve(x->hit->upstream_path.size() + req.query.size() + 1);
  x->path_and_query.append(x->hit->upstream_path);
  if (!req.query.empty()) x->path_and_query.append(1, '?').append(req.query);
  http::ClientRequest& out = x->request;
  out.method = req.method;
  out.timeout = std::chrono::milliseconds(route.timeout_ms > 0 ? route.timeout_ms : x->pool->spec().timeout_ms);
  // The caller's fields are written straight into the upstream request's field block (the
  // request holds none with a line break).
  std::string& fields = out.fields;
  fields.reserve(256 + 64 * req.headers.size());
  std::string forwarded_for;  // the caller's X-Forwarded-For values, joined
  std::optional<std::string_view> traceparent;
  for (const auto& [name, value] : req.headers.all()) {
    // Host too: the client names the target's (X-Forwarded-Host keeps the caller's).
    if (!Forwardable(name)) continue;
    // The gateway consumed the caller's credential; the upstream does not get it.
    if (!route.anonymous && (http::EqualsIgnoreCase(name, "authorization") || http::EqualsIgnoreCase(name, "apikey") ||
                             http::EqualsIgnoreCase(name, "x-api-key"))) {
      continue;
    }
    if (http::EqualsIgnoreCase(name, "x-forwarded-for")) {
      forwarded_for.append(value).append(", "sv);
      continue;
    }
    if (http::EqualsIgnoreCase(name, "traceparent")) {
      if (!traceparent) traceparent = value;
      continue;
    }
    if (http::EqualsIgnoreCase(name, "x-request-id") || http::EqualsIgnoreCase(name, "x-forwarded-proto") ||
        http::EqualsIgnoreCase(name, "x-forwarded-host") || http::EqualsIgnoreCase(name, "x-consumer")) {
      continue;
    }
    out.fields_have_agent |= http::EqualsIgnoreCase(name, "user-agent");
    http::AppendField(fields, name, value);
  }
  fields.append("X-Forwarded-For: "sv).append(forwarded_for).append(ClientIp(req));
  fields.append("\r\nX-Forwarded-Proto: http\r\n"sv);
  if (auto host = req.headers.Get("Host")) {
    http::AppendField(fields, "X-Forwarded-Host"sv, *host);
  }
  if (!http::HasLineBreak(req.request_id)) http::AppendField(fields, "X-Request-Id"sv, req.request_id);
  fields.append("traceparent: "sv);
  AppendNextTraceparent(fields, traceparent);
  fields.append("\r\n"sv);
  if (!consumer.empty() && !http::HasLineBreak(consumer)) http::AppendField(fields, "X-Consumer"sv, consumer);
  out.body = std::move(req.body);

  // The answer is due when every attempt has had its time.
  auto deadline = start + out.timeout * (x->pool->spec().retries + 1) + std::chrono::seconds(1);
  // The server runs this while it holds the answer, which keeps the exchange.
  x->answer.SetDeadline(deadline, [ex = x.get()] {
    ex->answer.Complete(http::ErrorResponse(Status::DeadlineExceeded("the upstream did not answer in time"), ex->request_id));
  });
  http::Response r;
  r.deferred = std::shared_ptr<http::DeferredResponse>(x, &x->answer);
  if (limit) {
    // The exchange outlives its answer's finishers: the answer is part of it.
    x->limit = limit;
    http::Finally(r, [ex = x.get()](http::Response& done) {
      done.headers.Set("RateLimit-Limit", std::to_string(ex->limit->limit));
      done.headers.Set("RateLimit-Remaining", std::to_string(ex->limit->remaining));
      done.headers.Set("RateLimit-Reset", std::to_string(static_cast<int64_t>(std::ceil(ex->limit->reset_s))));
    });
  }
  Attempt(std::move(x));
  return r;
}

Gateway::Gateway(storage::Db& db, auth::AuthService& auth, std::shared_ptr<prometheus::Registry> metrics,
                 GatewayOptions options)
    : impl_(std::make_unique<Impl>(db, auth, std::move(metrics), options)) {}
Gateway::~Gateway() = default;

Status Gateway::Load() {
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  if (!impl_->refresher.joinable()) impl_->refresher = NamedThread("gw-refresh", [this] { impl_->RefreshLoop(); });
  return Status::Ok();
}

std::vector<storage::Migration> Gateway::Migrations() {
  auto all = GatewayStore::Migrations();
  for (auto& m : Discovery::Migrations()) all.push_back(std::move(m));
  return all;
}

Result<Instance> Gateway::RegisterInstance(Instance instance) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(Instance in, impl_->discovery->Register(std::move(instance)));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild(false));
  return in;
}

Result<Instance> Gateway::Heartbeat(const std::string& service, const std::string& id, std::optional<int64_t> ttl_s) {
  return impl_->discovery->Heartbeat(service, id, ttl_s);  // the instance set is unchanged
}

Status Gateway::Deregister(const std::string& service, const std::string& id) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->discovery->Deregister(service, id));
  return impl_->Rebuild(false);
}

Result<std::vector<Instance>> Gateway::Instances(const std::optional<std::string>& service) const {
  return impl_->discovery->Instances(service);
}

std::string Gateway::ServicePaths() const {
  std::lock_guard lock(impl_->docs_mu);
  Json all = Json::object();
  for (const auto& [_, paths] : impl_->service_paths) {
    for (const auto& [path, item] : paths.items()) {
      if (!all.contains(path)) all[path] = item;
    }
  }
  return all.dump();
}

Result<Json> Gateway::PurgeCache(const std::optional<std::string>& route) {
  if (route) {
    AIMASS_RETURN_IF_ERROR(Route(*route).status());
    return Json{{"purged", impl_->cache.Purge(*route)}};
  }
  return Json{{"purged", impl_->cache.PurgeAll()}};
}

Json Gateway::CacheStats() const {
  auto s = impl_->cache.stats();
  return {{"entries", s.entries}, {"bytes", s.bytes}, {"hits", s.hits}, {"misses", s.misses}, {"evictions", s.evictions}};
}

Result<std::vector<ConsumerSpec>> Gateway::Consumers() const { return impl_->store.Consumers(); }

Result<ConsumerSpec> Gateway::Consumer(const std::string& name) const {
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Consumers());
  for (auto& c : all) {
    if (c.name == name) return c;
  }
  return Status::NotFound("consumer '" + name + "' not found");
}

Result<ConsumerSpec> Gateway::PutConsumer(ConsumerSpec spec, bool must_create) {
  for (const auto& role : spec.roles) {
    if (!impl_->auth.GetRole(role).ok()) return Status::BadRequest("role '" + role + "' does not exist");
  }
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(auto stored, impl_->store.PutConsumer(std::move(spec), must_create));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild(false));
  {
    std::lock_guard wake(impl_->refresh_mu);  // fetch a new JWKS now rather than within a second
    impl_->refresh_now = true;
  }
  impl_->refresh_cv.notify_all();
  return stored;
}

Status Gateway::DeleteConsumer(const std::string& name) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteConsumer(name));
  return impl_->Rebuild(false);
}

namespace {
Result<Gateway::NewSecret> AddSecret(Gateway::Impl& impl, const std::string& consumer, const std::string& kind,
                                     std::string id, std::string secret) {
  GatewayStore::SecretRecord r{id, consumer, kind, Sha256Hex(secret), UnixNowMs()};
  std::lock_guard lock(impl.write_mu);
  AIMASS_RETURN_IF_ERROR(impl.store.AddSecret(r));
  AIMASS_RETURN_IF_ERROR(impl.Rebuild(false));
  return Gateway::NewSecret{std::move(id), std::move(secret), r.created_at};
}
}  // namespace

Result<Gateway::NewSecret> Gateway::CreateApiKey(const std::string& consumer) {
  return AddSecret(*impl_, consumer, "apikey", "gkey_" + RandomHex(8), "gwk_" + RandomToken(40));
}

Result<Gateway::NewSecret> Gateway::CreateOAuthClient(const std::string& consumer) {
  return AddSecret(*impl_, consumer, "oauth", "gcl_" + RandomHex(12), RandomToken(48));
}

Result<Json> Gateway::Secrets(const std::string& consumer) const {
  AIMASS_RETURN_IF_ERROR(Consumer(consumer).status());
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Secrets());
  Json keys = Json::array(), clients = Json::array();
  for (const auto& s : all) {
    if (s.consumer != consumer) continue;
    (s.kind == "oauth" ? clients : keys).push_back({{"id", s.id}, {"created_at", s.created_at}});
  }
  return Json{{"api_keys", keys}, {"oauth_clients", clients}};
}

Status Gateway::DeleteSecret(const std::string& consumer, const std::string& id) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteSecret(consumer, id));
  return impl_->Rebuild(false);
}

Result<Gateway::OAuthToken> Gateway::IssueOAuthToken(const std::string& client_id, const std::string& client_secret) {
  if (!impl_->oauth_jwt) return Status::Unavailable("OAuth tokens are not configured");
  auto live = impl_->Current();
  auto it = live->oauth_clients.find(client_id);
  std::string given = Sha256Hex(client_secret);
  // The same work whether or not the client exists, and a constant-time comparison.
  const std::string& want = it != live->oauth_clients.end() ? it->second.second : given;
  bool same = want.size() == given.size() && CRYPTO_memcmp(want.data(), given.data(), want.size()) == 0;
  if (it == live->oauth_clients.end() || !same) return Status::Unauthenticated("invalid client");
  int64_t now = UnixNowMs() / 1000;
  Json claims = {{"sub", it->second.first}, {"client_id", client_id}, {"iat", now},
                 {"exp", now + impl_->options.oauth_token_ttl_s}, {"jti", RandomHex(16)}};
  AIMASS_ASSIGN_OR_RETURN(std::string token, impl_->oauth_jwt->Sign(claims));
  return OAuthToken{std::move(token), impl_->options.oauth_token_ttl_s};
}

const http::Route& Gateway::fallback_route() const { return impl_->fallback; }
std::shared_ptr<http::Middleware> Gateway::resolver() { return std::make_shared<Resolver>(impl_.get()); }

Result<std::vector<UpstreamSpec>> Gateway::Upstreams() const { return impl_->store.Upstreams(); }

Result<UpstreamSpec> Gateway::Upstream(const std::string& name) const {
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Upstreams());
  for (auto& u : all) {
    if (u.name == name) return u;
  }
  return Status::NotFound("upstream '" + name + "' not found");
}

Result<UpstreamSpec> Gateway::PutUpstream(UpstreamSpec spec, bool must_create) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(auto stored, impl_->store.PutUpstream(std::move(spec), must_create));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  return stored;
}

Status Gateway::DeleteUpstream(const std::string& name) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteUpstream(name));
  return impl_->Rebuild();
}

Result<Json> Gateway::UpstreamHealth(const std::string& name) const {
  auto live = impl_->Current();
  auto it = live->pools.find(name);
  if (it == live->pools.end()) return Status::NotFound("upstream '" + name + "' not found");
  return Json{{"targets", it->second->Health()}, {"circuit", it->second->CircuitJson()}};
}

Result<std::vector<std::pair<RouteSpec, RouteState>>> Gateway::Routes() const { return impl_->store.Routes(); }

Result<std::pair<RouteSpec, RouteState>> Gateway::Route(const std::string& name) const {
  AIMASS_ASSIGN_OR_RETURN(auto all, impl_->store.Routes());
  for (auto& r : all) {
    if (r.first.name == name) return r;
  }
  return Status::NotFound("route '" + name + "' not found");
}

Result<RouteSpec> Gateway::PutRoute(RouteSpec spec, bool must_create) {
  if (spec.rate_limit && spec.rate_limit->policy == "redis" && !impl_->redis) {
    return Status::BadRequest("a shared (redis) rate limit needs gateway.redis_url");
  }
  std::lock_guard lock(impl_->write_mu);
  AIMASS_ASSIGN_OR_RETURN(auto stored, impl_->store.PutRoute(std::move(spec), must_create));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  return stored;
}

Status Gateway::DeleteRoute(const std::string& name) {
  std::lock_guard lock(impl_->write_mu);
  AIMASS_RETURN_IF_ERROR(impl_->store.DeleteRoute(name));
  return impl_->Rebuild();
}

Result<RouteState> Gateway::SetRouteState(const std::string& name, RouteState state) {
  std::lock_guard lock(impl_->write_mu);
  state.changed_at = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(impl_->store.SetRouteState(name, state));
  AIMASS_RETURN_IF_ERROR(impl_->Rebuild());
  return state;
}

}  // namespace aimass::gateway
