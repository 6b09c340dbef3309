// The cube module: multidimensional analysis over datasets, on the column engine of `olap`
// (/api/v1/cubes).
#pragma once

#include <memory>

#include "cube/cube.hpp"
#include "module/module.hpp"

namespace aimass::cube {

class CubeModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "cube";
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/cubes"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "events", "datasets"}; }
  std::vector<storage::Migration> Migrations() const override { return CubeService::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  void Stop() override;

  CubeService& service() { return *service_; }

 private:
  std::unique_ptr<CubeService> service_;
};

}  // namespace aimass::cube
