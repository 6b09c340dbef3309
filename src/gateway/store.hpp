// The gateway's tables: upstreams, routes (with their pause/degrade state), each kept as its
// JSON document so that a new option needs no schema change.
#pragma once

#include <string>
#include <vector>

#include "common/status.hpp"
#include "gateway/consumer.hpp"
#include "gateway/spec.hpp"
#include "storage/db.hpp"

namespace aimass::gateway {

// A route's run-time state, changed by pause / resume / degrade (and kept across restarts).
enum class RouteMode { kActive, kPaused, kDegraded };
std::string_view Name(RouteMode v);

struct RouteState {
  RouteMode mode = RouteMode::kActive;
  int64_t retry_after_s = 30;   // paused: the Retry-After it answers with
  Fallback fallback;            // degraded: what stands in for the route's upstream
  std::string reason;
  int64_t changed_at = 0;
};

class GatewayStore {
 public:
  explicit GatewayStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Result<std::vector<UpstreamSpec>> Upstreams();
  Result<std::vector<std::pair<RouteSpec, RouteState>>> Routes();

  // Insert (must_create) or replace; the timestamps are set here.
  Result<UpstreamSpec> PutUpstream(UpstreamSpec u, bool must_create);
  // Refused (conflict) while a route sends to it.
  Status DeleteUpstream(const std::string& name);
  // The upstream a route names must exist (bad_request otherwise).
  Result<RouteSpec> PutRoute(RouteSpec r, bool must_create);
  Status DeleteRoute(const std::string& name);
  Status SetRouteState(const std::string& name, const RouteState& state);

  Result<std::vector<ConsumerSpec>> Consumers();  // with their secrets
  Result<ConsumerSpec> PutConsumer(ConsumerSpec c, bool must_create);
  Status DeleteConsumer(const std::string& name);  // and its keys and clients
  // API keys and OAuth clients of consumers: `kind` "apikey" or "oauth"; only the sha256 of
  // the secret is kept.
  struct SecretRecord {
    std::string id;
    std::string consumer;
    std::string kind;
    std::string hash;
    int64_t created_at = 0;
  };
  Status AddSecret(const SecretRecord& r);
  Result<std::vector<SecretRecord>> Secrets();
  Status DeleteSecret(const std::string& consumer, const std::string& id);

 private:
  storage::Db& db_;
};

nlohmann::json ToJson(const RouteState& s);
Result<RouteState> ParseRouteState(const nlohmann::json& j);

}  // namespace aimass::gateway
