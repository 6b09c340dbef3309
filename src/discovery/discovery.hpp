// Discovery: where services announce their instances (with a TTL renewed by heartbeats) and the
// gateway finds them: the services users register, and the platform's own processes, each of
// which announces the modules it serves (service "aimass-<module>"). The embedded
// implementation keeps them in the metadata store; etcd (leases, cluster.discovery=etcd)
// implements the same interface for the distributed mode. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::discovery {

// The services the platform's own processes announce: "aimass-<module>". Reserved: the
// gateway's API refuses to register, renew or remove them.
inline constexpr std::string_view kPlatformServicePrefix = "aimass-";

struct Instance {
  std::string service;
  std::string id;
  std::string url;     // http://host:port[/base]
  int weight = 100;
  int64_t ttl_s = 30;
  int64_t registered_at = 0;  // unix ms
  int64_t expires_at = 0;     // unix ms
};

class Discovery {
 public:
  virtual ~Discovery() = default;
  // Adds an instance (a new id) or, when `url` is already registered for the service, renews it.
  virtual Result<Instance> Register(Instance instance) = 0;
  // Renews an instance's TTL (optionally changing it); not_found once it has expired.
  virtual Result<Instance> Heartbeat(const std::string& service, const std::string& id, std::optional<int64_t> ttl_s) = 0;
  virtual Status Deregister(const std::string& service, const std::string& id) = 0;
  // Live instances of one service, or of all.
  virtual Result<std::vector<Instance>> Instances(const std::optional<std::string>& service) = 0;
  // Drops instances whose TTL has run out; true when any went.
  virtual Result<bool> Expire(int64_t now_ms) = 0;
  virtual std::string name() const = 0;

  static std::vector<storage::Migration> Migrations();
};

// Discovery in the metadata store (the embedded default).
std::unique_ptr<Discovery> MakeStoreDiscovery(storage::Db& db);

struct EtcdOptions {
  std::vector<std::string> endpoints;  // http://host:2379, tried in turn
  std::string prefix = "/aimass/services/";
  int64_t timeout_ms = 3000;
};

// Discovery on etcd's v3 API (its HTTP/JSON gateway): an instance is a key under the prefix
// bound to a lease of its TTL; a heartbeat keeps the lease alive, and etcd drops the key when
// the lease runs out, whoever was watching.
Result<std::unique_ptr<Discovery>> MakeEtcdDiscovery(EtcdOptions options);

nlohmann::json ToJson(const Instance& i);

}  // namespace aimass::discovery
