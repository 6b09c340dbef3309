// The gateway module: user routes to upstream services with consumers, plugins (rate limits,
// caching, circuit breakers), health checks and discovery; requests no platform route knows
// are resolved against its routes.
#pragma once

#include <memory>

#include "gateway/gateway.hpp"
#include "module/module.hpp"

namespace aimass::gateway {

class GatewayModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "gateway";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/gateway"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "discovery"}; }
  std::vector<storage::Migration> Migrations() const override { return Gateway::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  std::vector<module::StagedMiddleware> Middleware() override;
  const http::Route* FallbackRoute() override { return &gateway_->fallback_route(); }

  Gateway& gateway() { return *gateway_; }

 private:
  std::unique_ptr<Gateway> gateway_;
};

}  // namespace aimass::gateway
