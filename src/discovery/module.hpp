// The discovery module: where this process finds the instances of services (the metadata
// store or etcd, cluster.discovery) and, when it serves only some modules (--target), where it
// announces them — service "aimass-<module>" at its advertised URL, renewed every third of
// cluster.lease_ttl_s and withdrawn when it stops. A process that dies simply stops renewing:
// its entries expire within the TTL and the gateway stops routing to it.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "discovery/discovery.hpp"
#include "discovery/locator.hpp"
#include "module/module.hpp"

namespace aimass::discovery {

class DiscoveryModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "discovery";
  std::string_view name() const override { return kName; }
  bool core() const override { return true; }
  std::vector<storage::Migration> Migrations() const override { return Discovery::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status Start() override;
  void Stop() override;
  Status Health() const override;

  Discovery& discovery() { return *discovery_; }
  // Where the modules this process does not serve are.
  Locator& locator() { return *locator_; }

 private:
  void Renew();
  // Registers every served module once hooks.announce_when all hold; false when not yet.
  bool Announce();

  std::unique_ptr<Discovery> discovery_;
  std::unique_ptr<Locator> locator_;
  module::Hooks* hooks_ = nullptr;
  std::string advertise_url_;
  std::string url_;  // announced
  int64_t ttl_s_ = 10;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Instance> announced_;
  Status last_renewal_;
  std::thread renewer_;
};

}  // namespace aimass::discovery
