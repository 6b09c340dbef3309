// The analysis module: data mining jobs on dataset versions (/api/v1/analysis) and labelling
// projects (/api/v1/labelling).
#pragma once

#include <memory>

#include "analysis/labelling.hpp"
#include "analysis/mining.hpp"
#include "analysis/usage.hpp"
#include "module/module.hpp"

namespace aimass::gateway {
class Gateway;
}
namespace aimass::serving {
class Serving;
}

namespace aimass::analysis {

class AnalysisModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "analysis";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/analysis", "/api/v1/labelling", "/api/v1/usage"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "datasets", "serving", "pipeline", "gateway", "cube"}; }
  std::vector<storage::Migration> Migrations() const override;
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override;

  MiningService& mining() { return *mining_; }
  LabellingService& labelling() { return *labelling_; }
  UsageService& usage() { return *usage_; }

 private:
  std::unique_ptr<MiningService> mining_;
  std::unique_ptr<LabellingService> labelling_;
  std::unique_ptr<UsageService> usage_;
  gateway::Gateway* gateway_ = nullptr;
  serving::Serving* serving_ = nullptr;
  bool count_usage_ = false;
};

}  // namespace aimass::analysis
