// The crowd module: crowd-flow analysis of video streams (/api/v1/crowd).
#pragma once

#include <memory>

#include "crowd/crowd.hpp"
#include "module/module.hpp"

namespace aimass::crowd {

class CrowdModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "crowd";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/crowd"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "datasets", "cluster", "cube"}; }
  std::vector<storage::Migration> Migrations() const override { return CrowdService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override;
  void Stop() override;

  CrowdService& service() { return *service_; }

 private:
  std::unique_ptr<CrowdService> service_;
};

}  // namespace aimass::crowd
