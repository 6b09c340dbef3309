// The recommend module: recommender apps with their catalogue, users and feedback, models
// trained through pipelines and served from each app's live state, offline evaluation and A/B
// experiments (/api/v1/recommend).
#pragma once

#include <memory>

#include "module/module.hpp"
#include "recommend/recommend.hpp"

namespace aimass::recommend {

class RecommendModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "recommend";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/recommend"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "registry", "pipeline", "datasets", "mq"}; }
  std::vector<storage::Migration> Migrations() const override { return RecommendService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override;

  RecommendService& service() { return *service_; }

 private:
  std::unique_ptr<RecommendService> service_;
};

}  // namespace aimass::recommend
