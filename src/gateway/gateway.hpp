// Gateway: the platform's door for the services users put behind it. Routes (host, path,
// method, header matches) send requests to upstreams (weighted targets picked by a balancing
// rule), with per-route access, rate limits, pause and degrade, changed at run time through the
// API and kept in the metadata store. Requests no platform route knows come here (the HTTP
// pipeline's fallback route); the proxying never holds a thread while the upstream answers.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"
#include "common/usage.hpp"
#include "gateway/consumer.hpp"
#include "discovery/discovery.hpp"
#include "gateway/spec.hpp"
#include "gateway/store.hpp"
#include "http/pipeline.hpp"
#include "storage/db.hpp"

namespace prometheus {
class Registry;
}
namespace aimass::auth {
class AuthService;
}

namespace aimass::gateway {

using discovery::Discovery;
using discovery::Instance;

struct GatewayOptions {
  std::string oauth_secret;             // HS256 key of the tokens /oauth/token issues (≥ 32 bytes)
  int64_t oauth_token_ttl_s = 3600;
  size_t max_idle_per_host = 64;        // pooled keep-alive connections per target
  uint64_t max_response_bytes = 64ull << 20;
  bool access_log = true;
  std::string redis_url;   // for rate limits with "policy": "redis"
  size_t cache_max_bytes = 64ull << 20;  // the response cache, all routes together
  // Where instances are found; null: the metadata store's, owned by the gateway.
  discovery::Discovery* discovery = nullptr;
  // Platform paths this process does not serve (prefix, module): each is a built-in route to
  // the live instances of service "aimass-<module>", passing the caller's credentials on.
  std::vector<std::pair<std::string, std::string>> platform_routes;
};

class Gateway {
 public:
  // `auth` gives consumers' roles their permissions.
  Gateway(storage::Db& db, auth::AuthService& auth, std::shared_ptr<prometheus::Registry> metrics,
          GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  static std::vector<storage::Migration> Migrations();
  // Reads the stored configuration and starts serving it.
  Status Load();
  // Where each call's usage goes (the analysis module's collector); null: nowhere.
  void SetUsageSink(UsageSink* sink);

  // Administration. Each change is stored, then swapped into the live table at once.
  Result<std::vector<UpstreamSpec>> Upstreams() const;
  Result<UpstreamSpec> Upstream(const std::string& name) const;
  Result<UpstreamSpec> PutUpstream(UpstreamSpec spec, bool must_create);
  Status DeleteUpstream(const std::string& name);
  // Per target: in flight, latency average, ejection.
  Result<nlohmann::json> UpstreamHealth(const std::string& name) const;

  Result<std::vector<std::pair<RouteSpec, RouteState>>> Routes() const;
  Result<std::pair<RouteSpec, RouteState>> Route(const std::string& name) const;
  Result<RouteSpec> PutRoute(RouteSpec spec, bool must_create);
  Status DeleteRoute(const std::string& name);
  Result<RouteState> SetRouteState(const std::string& name, RouteState state);

  // Service discovery: instances register with a TTL, renew it with heartbeats, and expire;
  // routes naming the service send to its live instances.
  Result<Instance> RegisterInstance(Instance instance);
  Result<Instance> Heartbeat(const std::string& service, const std::string& id, std::optional<int64_t> ttl_s);
  Status Deregister(const std::string& service, const std::string& id);
  Result<std::vector<Instance>> Instances(const std::optional<std::string>& service) const;

  // The services' OpenAPI paths as this gateway exposes them (an OpenAPI `paths` object, as
  // JSON text), from the documents of routes with `openapi_path`, fetched in the background.
  std::string ServicePaths() const;

  // The response cache: drop a route's entries (or all), and its counters.
  Result<nlohmann::json> PurgeCache(const std::optional<std::string>& route);
  nlohmann::json CacheStats() const;

  // Consumers and their credentials. Secrets are shown once, when made.
  Result<std::vector<ConsumerSpec>> Consumers() const;
  Result<ConsumerSpec> Consumer(const std::string& name) const;
  Result<ConsumerSpec> PutConsumer(ConsumerSpec spec, bool must_create);
  Status DeleteConsumer(const std::string& name);
  struct NewSecret {
    std::string id;      // API key id, or OAuth client_id
    std::string secret;  // the API key, or the client_secret
    int64_t created_at = 0;
  };
  Result<NewSecret> CreateApiKey(const std::string& consumer);
  Result<NewSecret> CreateOAuthClient(const std::string& consumer);
  // id, kind, created_at of a consumer's keys and clients.
  Result<nlohmann::json> Secrets(const std::string& consumer) const;
  Status DeleteSecret(const std::string& consumer, const std::string& id);

  // The client-credentials grant: a signed token for the client's consumer.
  struct OAuthToken {
    std::string access_token;
    int64_t expires_in = 0;
  };
  Result<OAuthToken> IssueOAuthToken(const std::string& client_id, const std::string& client_secret);

  // The pipeline's fallback route (see http::Pipeline::SetFallback) and the middleware, placed
  // before access control, that matches a request to a gateway route and tells access control
  // what that route requires.
  const http::Route& fallback_route() const;
  std::shared_ptr<http::Middleware> resolver();

  struct Impl;  // defined in gateway.cpp (public so that its helpers there can name it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::gateway
