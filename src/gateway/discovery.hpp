// Discovery: where services announce their instances (with a TTL renewed by heartbeats) and the
// gateway finds them. The embedded implementation keeps them in the metadata store; etcd
// (leases) will implement the same interface for the distributed mode. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::gateway {

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

nlohmann::json ToJson(const Instance& i);

}  // namespace aimass::gateway
