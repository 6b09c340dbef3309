#include "gateway/spec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "common/name.hpp"
#include "http/client.hpp"
#include "http/json.hpp"
#include "http/message.hpp"

namespace aimass::gateway {

using Json = nlohmann::json;

namespace {

constexpr size_t kMaxTargets = 256;
constexpr size_t kMaxPaths = 64;
constexpr size_t kMaxPatternBytes = 1024;

// Unknown members are refused, so that a misspelt option ("strip_paths") is not silently ignored.
Status OnlyKeys(const Json& j, std::string_view what, std::initializer_list<std::string_view> keys) {
  for (const auto& [k, _] : j.items()) {
    bool known = false;
    for (auto key : keys) known |= k == key;
    if (!known) return Status::BadRequest(std::string(what) + ": unknown member '" + k.substr(0, 64) + "'");
  }
  return Status::Ok();
}

Result<bool> OptionalBool(const Json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Status::BadRequest(std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

Result<int64_t> BoundedInt(const Json& j, const char* key, int64_t fallback, int64_t lo, int64_t hi) {
  AIMASS_ASSIGN_OR_RETURN(auto v, http::OptionalInt(j, key));
  int64_t n = v.value_or(fallback);
  if (n < lo || n > hi) {
    return Status::BadRequest(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " +
                              std::to_string(hi));
  }
  return n;
}

Status ValidateTargetUrl(const std::string& url) {
  auto u = http::ParseUrl(url);
  if (!u.ok()) return Status::BadRequest("target url '" + url.substr(0, 200) + "': " + u.status().message());
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return Status::BadRequest("target url has a control character or space");
  }
  if (url.find('?') != std::string::npos || url.find('#') != std::string::npos) {
    return Status::BadRequest("target url takes no query or fragment");
  }
  return Status::Ok();
}

// A path pattern: '/'-led, printable, no dot segments (they would let a route forward above its
// base path), captures as whole segments.
Status ValidatePath(const std::string& p) {
  std::string_view path = p;
  if (path.starts_with("=")) path.remove_prefix(1);
  if (path.empty() || path.front() != '/') return Status::BadRequest("a route path must start with '/' (or '=/' for an exact path)");
  if (path.size() > kMaxPatternBytes) return Status::BadRequest("a route path is longer than 1024 bytes");
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '%' || c == '\\') {
      return Status::BadRequest("route path '" + p.substr(0, 200) + "' has a character routes may not use");
    }
  }
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    if (seg == "." || seg == "..") return Status::BadRequest("route path '" + p.substr(0, 200) + "' has a dot segment");
    bool opens = seg.find('{') != std::string_view::npos, closes = seg.find('}') != std::string_view::npos;
    if ((opens || closes) && !(seg.size() > 2 && seg.front() == '{' && seg.back() == '}' &&
                               seg.find_first_of("{}/", 1) == seg.size() - 1)) {
      return Status::BadRequest("route path '" + p.substr(0, 200) + "': a capture must be a whole segment, as {id}");
    }
    i = j + 1;
  }
  if (IsReservedPath(path)) {
    return Status::Conflict("route path '" + p.substr(0, 200) + "' is the platform's own (/api, /v1, /v2, /healthz, /readyz, /metrics, /openapi.json, /oauth, /docs, "
                            "and the console's /, /assets, /index.html, /favicon.svg)");
  }
  return Status::Ok();
}

Status ValidateHost(const std::string& h) {
  if (h.empty() || h.size() > 253) return Status::BadRequest("a route host must be 1..253 characters");
  std::string_view rest = h;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  for (char c : rest) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return Status::BadRequest("route host '" + h.substr(0, 100) + "' is not a host name");
    }
  }
  return Status::Ok();
}

// rate_limit.<field>: one of `choices` by its Name(), the first when absent.
template <class E>
Result<E> ParseChoice(const Json& j, const char* field, std::initializer_list<E> choices,
                      const char* plugin = "rate_limit") {
  AIMASS_ASSIGN_OR_RETURN(auto given, http::OptionalString(j, field));
  if (!given) return *choices.begin();
  std::string names;
  for (E c : choices) {
    if (Name(c) == *given) return c;
    names += (names.empty() ? "" : ", ") + std::string(Name(c));
  }
  return Status::BadRequest("'" + std::string(plugin) + "." + field + "' must be one of " + names);
}

Result<RateLimitSpec> ParseRateLimit(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("'rate_limit' must be an object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "rate_limit", {"rate", "per", "burst", "key", "algorithm", "policy"}));
  RateLimitSpec r;
  auto rate = j.find("rate");
  if (rate == j.end() || !rate->is_number() || rate->get<double>() <= 0 || rate->get<double>() > 1e9) {
    return Status::BadRequest("'rate_limit.rate' must be a number above 0");
  }
  r.rate = rate->get<double>();
  AIMASS_ASSIGN_OR_RETURN(r.per, ParseChoice(j, "per", {RatePer::kSecond, RatePer::kMinute, RatePer::kHour}));
  AIMASS_ASSIGN_OR_RETURN(r.burst, BoundedInt(j, "burst", 0, 0, 1'000'000'000));
  AIMASS_ASSIGN_OR_RETURN(r.key, ParseChoice(j, "key", {RateKey::kConsumer, RateKey::kRoute, RateKey::kIp}));
  AIMASS_ASSIGN_OR_RETURN(r.algorithm,
                          ParseChoice(j, "algorithm", {RateAlgorithm::kTokenBucket, RateAlgorithm::kSlidingWindow}));
  AIMASS_ASSIGN_OR_RETURN(r.policy, ParseChoice(j, "policy", {RatePolicy::kLocal, RatePolicy::kRedis}));
  return r;
}

Result<TokenLimitSpec> ParseTokenLimit(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("'token_limit' must be an object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "token_limit", {"tokens_per_minute", "key"}));
  TokenLimitSpec t;
  auto tpm = j.find("tokens_per_minute");
  if (tpm == j.end() || !tpm->is_number_integer() || tpm->get<int64_t>() < 1 || tpm->get<int64_t>() > 1'000'000'000'000) {
    return Status::BadRequest("'token_limit.tokens_per_minute' must be a whole number above 0");
  }
  t.tokens_per_minute = tpm->get<int64_t>();
  AIMASS_ASSIGN_OR_RETURN(t.key, ParseChoice(j, "key", {RateKey::kConsumer, RateKey::kRoute, RateKey::kIp}, "token_limit"));
  return t;
}

Result<CacheSpec> ParseCache(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("'cache' must be an object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "cache", {"ttl_s", "methods", "vary_headers", "statuses"}));
  CacheSpec c;
  AIMASS_ASSIGN_OR_RETURN(c.ttl_s, BoundedInt(j, "ttl_s", 30, 1, 86400));
  AIMASS_ASSIGN_OR_RETURN(auto methods, http::OptionalStringArray(j, "methods"));
  if (methods) {
    if (methods->empty()) return Status::BadRequest("'cache.methods' lists at least one method");
    for (const auto& m : *methods) {
      if (m != "GET" && m != "HEAD" && m != "POST") return Status::BadRequest("'cache.methods' takes GET, HEAD and POST");
    }
    c.methods = std::move(*methods);
  }
  AIMASS_ASSIGN_OR_RETURN(auto vary, http::OptionalStringArray(j, "vary_headers"));
  if (vary) {
    if (vary->size() > 16) return Status::BadRequest("'cache.vary_headers' has at most 16 names");
    for (auto& h : *vary) {
      if (h.empty() || h.size() > 128) return Status::BadRequest("'cache.vary_headers' names must be 1..128 characters");
      for (auto& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    c.vary_headers = std::move(*vary);
  }
  if (auto st = j.find("statuses"); st != j.end() && !st->is_null()) {
    if (!st->is_array() || st->empty()) return Status::BadRequest("'cache.statuses' must be a non-empty array of statuses");
    c.statuses.clear();
    for (const auto& v : *st) {
      if (!v.is_number_integer() || v.get<int64_t>() < 200 || v.get<int64_t>() > 599) {
        return Status::BadRequest("'cache.statuses' takes HTTP statuses 200..599");
      }
      c.statuses.push_back(v.get<int>());
    }
  }
  return c;
}

Json CacheJson(const CacheSpec& c) {
  return {{"ttl_s", c.ttl_s}, {"methods", c.methods}, {"vary_headers", c.vary_headers}, {"statuses", c.statuses}};
}

Result<HealthCheckSpec> ParseHealthCheck(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("'health_check' must be an object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "health_check", {"path", "interval_s", "timeout_ms", "healthy_after", "unhealthy_after", "statuses"}));
  HealthCheckSpec h;
  AIMASS_ASSIGN_OR_RETURN(auto path, http::OptionalString(j, "path"));
  h.path = path.value_or("/healthz");
  if (h.path.empty() || h.path.front() != '/' || h.path.size() > 1024 ||
      std::any_of(h.path.begin(), h.path.end(), [](char c) { return static_cast<unsigned char>(c) <= ' '; })) {
    return Status::BadRequest("'health_check.path' must be a path starting with '/'");
  }
  AIMASS_ASSIGN_OR_RETURN(h.interval_s, BoundedInt(j, "interval_s", 5, 1, 3600));
  AIMASS_ASSIGN_OR_RETURN(h.timeout_ms, BoundedInt(j, "timeout_ms", 1000, 1, 60000));
  AIMASS_ASSIGN_OR_RETURN(int64_t healthy, BoundedInt(j, "healthy_after", 2, 1, 100));
  AIMASS_ASSIGN_OR_RETURN(int64_t unhealthy, BoundedInt(j, "unhealthy_after", 2, 1, 100));
  h.healthy_after = static_cast<int>(healthy);
  h.unhealthy_after = static_cast<int>(unhealthy);
  if (auto st = j.find("statuses"); st != j.end() && !st->is_null()) {
    if (!st->is_array() || st->size() != 2 || !(*st)[0].is_number_integer() || !(*st)[1].is_number_integer() ||
        (*st)[0].get<int>() < 100 || (*st)[1].get<int>() > 599 || (*st)[0].get<int>() > (*st)[1].get<int>()) {
      return Status::BadRequest("'health_check.statuses' is [lowest, highest] healthy status, e.g. [200, 399]");
    }
    h.min_status = (*st)[0].get<int>();
    h.max_status = (*st)[1].get<int>();
  }
  return h;
}

Result<CircuitBreakerSpec> ParseCircuitBreaker(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("'circuit_breaker' must be an object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "circuit_breaker", {"failure_ratio", "min_requests", "window_s", "open_s", "half_open_requests"}));
  CircuitBreakerSpec c;
  if (auto r = j.find("failure_ratio"); r != j.end() && !r->is_null()) {
    if (!r->is_number() || r->get<double>() <= 0 || r->get<double>() > 1) {
      return Status::BadRequest("'circuit_breaker.failure_ratio' must be above 0 and at most 1");
    }
    c.failure_ratio = r->get<double>();
  }
  AIMASS_ASSIGN_OR_RETURN(c.min_requests, BoundedInt(j, "min_requests", 20, 1, 1'000'000));
  AIMASS_ASSIGN_OR_RETURN(c.window_s, BoundedInt(j, "window_s", 10, 1, 3600));
  AIMASS_ASSIGN_OR_RETURN(c.open_s, BoundedInt(j, "open_s", 30, 1, 3600));
  AIMASS_ASSIGN_OR_RETURN(int64_t trials, BoundedInt(j, "half_open_requests", 3, 1, 1000));
  c.half_open_requests = static_cast<int>(trials);
  return c;
}

}  // namespace

Result<Fallback> ParseFallback(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("'fallback' must be an object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "fallback", {"status", "body", "content_type", "upstream"}));
  Fallback f;
  AIMASS_ASSIGN_OR_RETURN(auto upstream, http::OptionalString(j, "upstream"));
  AIMASS_ASSIGN_OR_RETURN(auto body, http::OptionalString(j, "body"));
  AIMASS_ASSIGN_OR_RETURN(auto type, http::OptionalString(j, "content_type"));
  if (upstream && (body || type || j.contains("status"))) {
    return Status::BadRequest("a fallback is either an upstream or a static response, not both");
  }
  if (upstream) {
    AIMASS_RETURN_IF_ERROR(ValidateName("upstream", *upstream, 128));
    f.upstream = *upstream;
    return f;
  }
  AIMASS_ASSIGN_OR_RETURN(int64_t status, BoundedInt(j, "status", 200, 200, 599));
  f.status = static_cast<int>(status);
  f.body = body.value_or("");
  if (f.body.size() > 64 * 1024) return Status::BadRequest("a fallback body is at most 64 KiB");
  f.content_type = type.value_or("application/json");
  if (http::HasLineBreak(f.content_type)) return Status::BadRequest("'content_type' has a line break");
  return f;
}

Json ToJson(const Fallback& f) {
  if (!f.upstream.empty()) return {{"upstream", f.upstream}};
  return {{"status", f.status}, {"body", f.body}, {"content_type", f.content_type}};
}

namespace {

Json RateLimitJson(const RateLimitSpec& r) {
  return {{"rate", r.rate},           {"per", Name(r.per)},           {"burst", r.burst},
          {"key", Name(r.key)},       {"algorithm", Name(r.algorithm)}, {"policy", Name(r.policy)}};
}

}  // namespace

double RateLimitSpec::per_seconds() const { return per == RatePer::kHour ? 3600 : per == RatePer::kMinute ? 60 : 1; }

std::string_view Name(RatePer v) {
  switch (v) {
    case RatePer::kSecond: return "second";
    case RatePer::kMinute: return "minute";
    case RatePer::kHour: return "hour";
  }
  return "";
}

std::string_view Name(RateKey v) {
  switch (v) {
    case RateKey::kConsumer: return "consumer";
    case RateKey::kRoute: return "route";
    case RateKey::kIp: return "ip";
  }
  return "";
}

std::string_view Name(RateAlgorithm v) {
  return v == RateAlgorithm::kSlidingWindow ? "sliding_window" : "token_bucket";
}

std::string_view Name(RatePolicy v) { return v == RatePolicy::kRedis ? "redis" : "local"; }

std::string_view BalanceName(Balance b) {
  switch (b) {
    case Balance::kRoundRobin: return "round_robin";
    case Balance::kLeastConnections: return "least_connections";
    case Balance::kConsistentHash: return "consistent_hash";
    case Balance::kEwma: return "ewma";
  }
  return "round_robin";
}

bool IsReservedPath(std::string_view path) {
  for (std::string_view p : {"/api", "/v1", "/v2", "/healthz", "/readyz", "/metrics", "/openapi.json", "/oauth", "/docs",
                             "/assets", "/index.html", "/favicon.svg"}) {
    if (path == p || (path.starts_with(p) && path[p.size()] == '/')) return true;
  }
  return path == "/";
}

Result<UpstreamSpec> ParseUpstream(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("an upstream must be a JSON object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "upstream", {"name", "targets", "balance", "hash_on", "timeout_ms", "retries",
                                                  "eject_after_failures", "eject_s", "health_check",
                                                  "circuit_breaker", "created_at", "updated_at"}));
  UpstreamSpec u;
  AIMASS_ASSIGN_OR_RETURN(u.name, http::RequiredString(j, "name"));
  AIMASS_RETURN_IF_ERROR(ValidateName("upstream", u.name, 128));
  auto targets = j.find("targets");
  if (targets == j.end() || !targets->is_array() || targets->empty()) {
    return Status::BadRequest("'targets' must be a non-empty array of {\"url\", \"weight\"}");
  }
  if (targets->size() > kMaxTargets) return Status::BadRequest("an upstream has at most 256 targets");
  std::set<std::string> seen;
  for (const auto& t : *targets) {
    if (!t.is_object()) return Status::BadRequest("each target must be an object {\"url\", \"weight\"}");
    AIMASS_RETURN_IF_ERROR(OnlyKeys(t, "target", {"url", "weight"}));
    Target target;
    AIMASS_ASSIGN_OR_RETURN(target.url, http::RequiredString(t, "url"));
    while (target.url.size() > 7 && target.url.back() == '/') target.url.pop_back();
    AIMASS_RETURN_IF_ERROR(ValidateTargetUrl(target.url));
    AIMASS_ASSIGN_OR_RETURN(int64_t w, BoundedInt(t, "weight", 100, 0, 1000));
    target.weight = static_cast<int>(w);
    if (!seen.insert(target.url).second) return Status::BadRequest("target '" + target.url + "' is listed twice");
    u.targets.push_back(std::move(target));
  }
  AIMASS_ASSIGN_OR_RETURN(auto balance, http::OptionalString(j, "balance"));
  std::string b = balance.value_or("round_robin");
  if (b == "round_robin") u.balance = Balance::kRoundRobin;
  else if (b == "least_connections") u.balance = Balance::kLeastConnections;
  else if (b == "consistent_hash") u.balance = Balance::kConsistentHash;
  else if (b == "ewma") u.balance = Balance::kEwma;
  else return Status::BadRequest("'balance' must be round_robin, least_connections, consistent_hash or ewma");
  AIMASS_ASSIGN_OR_RETURN(auto hash_on, http::OptionalString(j, "hash_on"));
  u.hash_on = hash_on.value_or("ip");
  if (!(u.hash_on == "ip" || ((u.hash_on.starts_with("header:") || u.hash_on.starts_with("cookie:")) &&
                              u.hash_on.size() > 7 && u.hash_on.size() < 128))) {
    return Status::BadRequest("'hash_on' must be ip, header:<name> or cookie:<name>");
  }
  AIMASS_ASSIGN_OR_RETURN(u.timeout_ms, BoundedInt(j, "timeout_ms", 30000, 1, 3'600'000));
  AIMASS_ASSIGN_OR_RETURN(int64_t retries, BoundedInt(j, "retries", 1, 0, 10));
  u.retries = static_cast<int>(retries);
  AIMASS_ASSIGN_OR_RETURN(int64_t eject_after, BoundedInt(j, "eject_after_failures", 3, 1, 1000));
  u.eject_after_failures = static_cast<int>(eject_after);
  AIMASS_ASSIGN_OR_RETURN(u.eject_s, BoundedInt(j, "eject_s", 10, 1, 3600));
  if (auto h = j.find("health_check"); h != j.end() && !h->is_null()) {
    AIMASS_ASSIGN_OR_RETURN(u.health_check, ParseHealthCheck(*h));
  }
  if (auto c = j.find("circuit_breaker"); c != j.end() && !c->is_null()) {
    AIMASS_ASSIGN_OR_RETURN(u.circuit_breaker, ParseCircuitBreaker(*c));
  }
  return u;
}

Result<RouteSpec> ParseRoute(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("a route must be a JSON object");
  AIMASS_RETURN_IF_ERROR(OnlyKeys(j, "route", {"name", "hosts", "paths", "methods", "headers", "upstream",
                                               "strip_path", "rewrite", "anonymous", "auth", "permission", "timeout_ms", "fallback", "service", "openapi_path",
                                               "application", "plugins", "created_at", "updated_at"}));
  RouteSpec r;
  AIMASS_ASSIGN_OR_RETURN(r.name, http::RequiredString(j, "name"));
  AIMASS_RETURN_IF_ERROR(ValidateName("route", r.name, 128));
  AIMASS_ASSIGN_OR_RETURN(auto paths, http::OptionalStringArray(j, "paths"));
  if (!paths || paths->empty()) return Status::BadRequest("'paths' must list at least one path");
  if (paths->size() > kMaxPaths) return Status::BadRequest("a route has at most 64 paths");
  for (const auto& p : *paths) AIMASS_RETURN_IF_ERROR(ValidatePath(p));
  r.paths = std::move(*paths);
  AIMASS_ASSIGN_OR_RETURN(auto hosts, http::OptionalStringArray(j, "hosts"));
  if (hosts) {
    for (auto& h : *hosts) {
      for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      AIMASS_RETURN_IF_ERROR(ValidateHost(h));
    }
    r.hosts = std::move(*hosts);
  }
  AIMASS_ASSIGN_OR_RETURN(auto methods, http::OptionalStringArray(j, "methods"));
  if (methods) {
    for (const auto& m : *methods) {
      static const std::set<std::string> kKnown = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
      if (!kKnown.count(m)) return Status::BadRequest("'methods' takes GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    }
    r.methods = std::move(*methods);
  }
  if (auto h = j.find("headers"); h != j.end() && !h->is_null()) {
    if (!h->is_object()) return Status::BadRequest("'headers' must be an object of header name to value");
    for (const auto& [name, value] : h->items()) {
      if (!value.is_string() || name.empty() || name.size() > 128) {
        return Status::BadRequest("'headers' must be an object of header name to value");
      }
      std::string lower = name;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[lower] = value.get<std::string>();
    }
  }
  AIMASS_ASSIGN_OR_RETURN(auto upstream, http::OptionalString(j, "upstream"));
  AIMASS_ASSIGN_OR_RETURN(auto service, http::OptionalString(j, "service"));
  if (upstream.has_value() == service.has_value()) return Status::BadRequest("a route names an 'upstream' or a 'service'");
  if (upstream) {
    r.upstream = *upstream;
    AIMASS_RETURN_IF_ERROR(ValidateName("upstream", r.upstream, 128));
  } else {
    r.service = *service;
    AIMASS_RETURN_IF_ERROR(ValidateName("service", r.service, 128));
  }
  AIMASS_ASSIGN_OR_RETURN(r.strip_path, OptionalBool(j, "strip_path", false));
  AIMASS_ASSIGN_OR_RETURN(auto rewrite, http::OptionalString(j, "rewrite"));
  r.rewrite = rewrite.value_or("");
  if (!r.rewrite.empty()) {
    if (r.strip_path) return Status::BadRequest("a route has either strip_path or rewrite, not both");
    if (r.rewrite.front() != '/' || r.rewrite.size() > kMaxPatternBytes ||
        r.rewrite.find_first_of("?# \\%") != std::string::npos || r.rewrite.find("/..") != std::string::npos) {
      return Status::BadRequest("'rewrite' must be a path starting with '/' (no query, no dot segments)");
    }
  }
  AIMASS_ASSIGN_OR_RETURN(r.anonymous, OptionalBool(j, "anonymous", false));
  AIMASS_ASSIGN_OR_RETURN(auto auth, http::OptionalStringArray(j, "auth"));
  if (auth) {
    if (auth->empty()) return Status::BadRequest("'auth' lists at least one of platform, jwt, key, oauth (or use anonymous)");
    std::set<std::string> seen;
    for (const auto& a : *auth) {
      if (a != "platform" && a != "jwt" && a != "key" && a != "oauth") {
        return Status::BadRequest("'auth' takes platform, jwt, key and oauth");
      }
      if (!seen.insert(a).second) return Status::BadRequest("'auth' lists '" + a + "' twice");
    }
    r.auth = std::move(*auth);
  }
  AIMASS_ASSIGN_OR_RETURN(auto permission, http::OptionalString(j, "permission"));
  r.permission = permission.value_or("");
  if (!r.permission.empty() && (r.permission.find(':') == std::string::npos || r.permission.size() > 128)) {
    return Status::BadRequest("'permission' must be resource:action");
  }
  if (r.anonymous && !r.permission.empty()) return Status::BadRequest("an anonymous route cannot require a permission");
  AIMASS_ASSIGN_OR_RETURN(r.timeout_ms, BoundedInt(j, "timeout_ms", 0, 0, 3'600'000));
  if (auto f = j.find("fallback"); f != j.end() && !f->is_null()) {
    AIMASS_ASSIGN_OR_RETURN(r.fallback, ParseFallback(*f));
  }
  AIMASS_ASSIGN_OR_RETURN(auto openapi, http::OptionalString(j, "openapi_path"));
  r.openapi_path = openapi.value_or("");
  if (!r.openapi_path.empty() &&
      (r.openapi_path.front() != '/' || r.openapi_path.size() > 1024 ||
       std::any_of(r.openapi_path.begin(), r.openapi_path.end(), [](char c) { return static_cast<unsigned char>(c) <= ' '; }))) {
    return Status::BadRequest("'openapi_path' must be a path starting with '/'");
  }
  AIMASS_ASSIGN_OR_RETURN(auto application, http::OptionalString(j, "application"));
  r.application = application.value_or("");
  if (!r.application.empty()) AIMASS_RETURN_IF_ERROR(ValidateName("application", r.application, 128));
  if (auto p = j.find("plugins"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return Status::BadRequest("'plugins' must be an object");
    AIMASS_RETURN_IF_ERROR(OnlyKeys(*p, "plugins", {"rate_limit", "token_limit", "cache", "request_headers"}));
    if (auto rh = p->find("request_headers"); rh != p->end() && !rh->is_null()) {
      if (!rh->is_object() || rh->size() > 16) {
        return Status::BadRequest("'request_headers' must be an object of at most 16 fields");
      }
      for (auto& [name, value] : rh->items()) {
        const bool token = !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        });
        if (!token || !value.is_string() || value.get<std::string>().size() > 8192 ||
            value.get<std::string>().find_first_of("\r\n") != std::string::npos) {
          return Status::BadRequest("'request_headers." + name.substr(0, 100) + "' must be a field name with a one-line string value");
        }
        r.request_headers.emplace_back(name, value.get<std::string>());
      }
    }
    if (auto tl = p->find("token_limit"); tl != p->end() && !tl->is_null()) {
      AIMASS_ASSIGN_OR_RETURN(r.token_limit, ParseTokenLimit(*tl));
    }
    if (auto c = p->find("cache"); c != p->end() && !c->is_null()) {
      AIMASS_ASSIGN_OR_RETURN(r.cache, ParseCache(*c));
    }
    if (auto rl = p->find("rate_limit"); rl != p->end() && !rl->is_null()) {
      AIMASS_ASSIGN_OR_RETURN(r.rate_limit, ParseRateLimit(*rl));
    }
  }
  return r;
}

Json ToJson(const UpstreamSpec& u) {
  Json targets = Json::array();
  for (const auto& t : u.targets) targets.push_back({{"url", t.url}, {"weight", t.weight}});
  return {{"name", u.name},
          {"targets", targets},
          {"balance", BalanceName(u.balance)},
          {"hash_on", u.hash_on},
          {"timeout_ms", u.timeout_ms},
          {"retries", u.retries},
          {"eject_after_failures", u.eject_after_failures},
          {"eject_s", u.eject_s},
          {"health_check", u.health_check ? Json{{"path", u.health_check->path},
                                                 {"interval_s", u.health_check->interval_s},
                                                 {"timeout_ms", u.health_check->timeout_ms},
                                                 {"healthy_after", u.health_check->healthy_after},
                                                 {"unhealthy_after", u.health_check->unhealthy_after},
                                                 {"statuses", {u.health_check->min_status, u.health_check->max_status}}}
                                          : Json(nullptr)},
          {"circuit_breaker", u.circuit_breaker ? Json{{"failure_ratio", u.circuit_breaker->failure_ratio},
                                                       {"min_requests", u.circuit_breaker->min_requests},
                                                       {"window_s", u.circuit_breaker->window_s},
                                                       {"open_s", u.circuit_breaker->open_s},
                                                       {"half_open_requests", u.circuit_breaker->half_open_requests}}
                                                : Json(nullptr)},
          {"created_at", u.created_at},
          {"updated_at", u.updated_at}};
}

Json ToJson(const RouteSpec& r) {
  Json plugins = Json::object();
  if (r.rate_limit) plugins["rate_limit"] = RateLimitJson(*r.rate_limit);
  if (r.token_limit) {
    plugins["token_limit"] = {{"tokens_per_minute", r.token_limit->tokens_per_minute}, {"key", Name(r.token_limit->key)}};
  }
  if (r.cache) plugins["cache"] = CacheJson(*r.cache);
  if (!r.request_headers.empty()) {
    Json h = Json::object();
    for (const auto& [name, value] : r.request_headers) h[name] = value;
    plugins["request_headers"] = h;
  }
  return {{"name", r.name},
          {"hosts", r.hosts},
          {"paths", r.paths},
          {"methods", r.methods},
          {"headers", r.headers},
          {"upstream", r.upstream.empty() ? Json(nullptr) : Json(r.upstream)},
          {"service", r.service.empty() ? Json(nullptr) : Json(r.service)},
          {"strip_path", r.strip_path},
          {"rewrite", r.rewrite},
          {"anonymous", r.anonymous},
          {"auth", r.auth},
          {"permission", r.permission},
          {"timeout_ms", r.timeout_ms},
          {"fallback", r.fallback ? ToJson(*r.fallback) : Json(nullptr)},
          {"plugins", plugins},
          {"openapi_path", r.openapi_path},
          {"application", r.application.empty() ? Json(nullptr) : Json(r.application)},
          {"created_at", r.created_at},
          {"updated_at", r.updated_at}};
}

}  // namespace aimass::gateway
