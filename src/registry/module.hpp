// The registry module: models, their versions and artifacts (in the blob store), aliases,
// search, grants, and the recovery of versions a crash left pending.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "module/module.hpp"
#include "registry/registry.hpp"
#include "storage/tar_unpack.hpp"

namespace aimass::registry {

using storage::TarLimits;

class RegistryModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "registry";
  std::string_view name() const override { return kName; }
  bool keeps_blobs() const override { return true; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/models", "/api/v1/model-versions"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "blobs", "events"}; }
  std::vector<storage::Migration> Migrations() const override { return Registry::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  // Lists this process as a live registry worker (renewed every few seconds), and decides the
  // versions that processes which died meanwhile left pending.
  Status Start() override;
  void Stop() override;

  Registry& registry() { return *registry_; }

 private:
  void Watch();

  std::unique_ptr<Registry> registry_;
  TarLimits limits_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace aimass::registry
