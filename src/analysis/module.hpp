// The analysis module: data mining jobs on dataset versions (/api/v1/analysis).
#pragma once

#include <memory>

#include "analysis/mining.hpp"
#include "module/module.hpp"

namespace aimass::analysis {

class AnalysisModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "analysis";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/analysis"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "datasets"}; }
  std::vector<storage::Migration> Migrations() const override { return MiningService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override;

  MiningService& mining() { return *mining_; }

 private:
  std::unique_ptr<MiningService> mining_;
};

}  // namespace aimass::analysis
