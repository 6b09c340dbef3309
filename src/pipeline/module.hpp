// The pipeline module: pipelines of steps run as jobs on the cluster, with a cache of step
// results, retries, resume and cron schedules (through the scheduler).
#pragma once

#include <memory>

#include "module/module.hpp"
#include "pipeline/pipelines.hpp"

namespace aimass::pipeline {

class PipelineModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "pipeline";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/pipelines", "/api/v1/pipeline-runs"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "cluster", "scheduler"}; }
  std::vector<storage::Migration> Migrations() const override { return Pipelines::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override { pipelines_->Stop(); }

  Pipelines& pipelines() { return *pipelines_; }

 private:
  std::unique_ptr<Pipelines> pipelines_;
};

}  // namespace aimass::pipeline
