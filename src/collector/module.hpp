// The collector module: collectors that fill datasets from files, directories, HTTP pushes,
// SQL queries and message-queue topics, exactly once across restarts.
#pragma once

#include <memory>

#include "collector/collectors.hpp"
#include "module/module.hpp"

namespace aimass::collector {

class CollectorModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "collector";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/collectors", "/api/v1/collect"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "datasets", "mq"}; }
  std::vector<storage::Migration> Migrations() const override { return Collectors::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  Status Start() override { return collectors_->Start(); }
  void Stop() override { collectors_->Stop(); }

 private:
  std::unique_ptr<Collectors> collectors_;
};

}  // namespace aimass::collector
