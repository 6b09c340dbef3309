// The serving module: deployments of registered model versions, inference over REST (KServe
// v2, TF-Serving v1) and gRPC (the Open Inference Protocol), batching, canaries, statistics.
#pragma once

#include <memory>

#include "module/module.hpp"
#include "serving/serving.hpp"

namespace aimass::serving {

class GrpcService;

class ServingModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "serving";
  ServingModule();
  ~ServingModule() override;
  std::string_view name() const override { return kName; }
  std::vector<std::string_view> paths() const override { return {"/api/v1/deployments", "/v2", "/v1/models", "/v1/chat", "/v1/completions"}; }
  std::vector<std::string_view> needs() const override { return {"auth", "blobs", "discovery", "events", "registry"}; }
  std::vector<storage::Migration> Migrations() const override { return Serving::Migrations(); }
  // Loads the stored deployments in the background.
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;
  std::vector<grpc::Service*> GrpcServices() override;
  void Stop() override;

  Serving& serving() { return *serving_; }

 private:
  std::unique_ptr<ArtifactFetcher> fetcher_;  // before serving_: its loads call it until they stop
  std::unique_ptr<Serving> serving_;
  std::unique_ptr<GrpcService> grpc_;
  uint64_t max_request_bytes_ = 0;
};

}  // namespace aimass::serving
