// The tracking module: experiments and their runs (params, tags, metric histories, artifacts,
// the dataset and model versions each read and produced), run search and comparison.
#pragma once

#include <memory>

#include "module/module.hpp"
#include "tracking/tracking.hpp"

namespace aimass::tracking {

class TrackingModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "tracking";
  std::string_view name() const override { return kName; }
  bool keeps_blobs() const override { return true; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/experiments", "/api/v1/runs"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "blobs", "events"}; }
  std::vector<storage::Migration> Migrations() const override { return Tracking::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;

  Tracking& tracking() { return *tracking_; }

 private:
  std::unique_ptr<Tracking> tracking_;
};

}  // namespace aimass::tracking
