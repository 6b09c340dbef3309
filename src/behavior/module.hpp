// The behavior module: product analytics and customer models over captured events
// (/api/v1/behavior).
#pragma once

#include <memory>

#include "behavior/behavior.hpp"
#include "module/module.hpp"

namespace aimass::behavior {

class BehaviorModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "behavior";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/behavior"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "datasets", "mq", "registry", "pipeline"}; }
  std::vector<storage::Migration> Migrations() const override { return BehaviorService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  void Stop() override;

  BehaviorService& service() { return *service_; }

 private:
  std::unique_ptr<BehaviorService> service_;
};

}  // namespace aimass::behavior
