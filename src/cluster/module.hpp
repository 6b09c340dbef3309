// The cluster module: nodes (this machine registers itself), the job queue with quotas, the
// local executor (cgroups, bubblewrap sandboxes) and the Slurm executor.
#pragma once

#include <memory>

#include "cluster/cluster.hpp"
#include "module/module.hpp"

namespace aimass::cluster {

class ClusterModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "cluster";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/cluster", "/api/v1/jobs"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events"}; }
  std::vector<storage::Migration> Migrations() const override { return ClusterStore::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override { cluster_->Stop(); }

  Cluster& cluster() { return *cluster_; }

 private:
  std::unique_ptr<Cluster> cluster_;
};

}  // namespace aimass::cluster
