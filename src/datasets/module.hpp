// The datasets module: table datasets in versions (CSV, TSV, JSON Lines uploads stored as
// columnar segments in the blob store), their profiles, drift and expectation suites.
#pragma once

#include <memory>

#include "datasets/datasets.hpp"
#include "module/module.hpp"

namespace aimass::datasets {

class DatasetsModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "datasets";
  std::string_view name() const override { return kName; }
  bool keeps_blobs() const override { return true; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/datasets"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "blobs", "events"}; }
  std::vector<storage::Migration> Migrations() const override { return Datasets::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override { datasets_->Stop(); }

  Datasets& datasets() { return *datasets_; }

 private:
  std::unique_ptr<Datasets> datasets_;
};

}  // namespace aimass::datasets
