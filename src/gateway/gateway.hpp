// Gateway: the platform's door for the services users put behind it. Routes (host, path,
// method, header matches) send requests to upstreams (weighted targets picked by a balancing
// rule), with per-route access, rate limits, pause and degrade, changed at run time through the
// API and kept in the metadata store. Requests no platform route knows come here (the HTTP
// pipeline's fallback route); the proxying never holds a thread while the upstream answers.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"
#include "gateway/spec.hpp"
#include "gateway/store.hpp"
#include "http/pipeline.hpp"
#include "storage/db.hpp"

namespace prometheus {
class Registry;
}

namespace aimass::gateway {

struct GatewayOptions {
  size_t max_idle_per_host = 64;        // pooled keep-alive connections per target
  uint64_t max_response_bytes = 64ull << 20;
  bool access_log = true;  // a line per proxied request: route, upstream, target, consumer, latencies
};

class Gateway {
 public:
  Gateway(storage::Db& db, std::shared_ptr<prometheus::Registry> metrics, GatewayOptions options = {});
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  static std::vector<storage::Migration> Migrations() { return GatewayStore::Migrations(); }
  // Reads the stored configuration and starts serving it.
  Status Load();

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
