#include "analysis/module.hpp"

#include "analysis/api.hpp"
#include "analysis/labelling_api.hpp"
#include "analysis/usage_api.hpp"
#include "auth/module.hpp"
#include "cube/module.hpp"
#include "datasets/module.hpp"
#include "events/module.hpp"
#include "gateway/module.hpp"
#include "pipeline/module.hpp"
#include "serving/module.hpp"

namespace aimass::analysis {

std::vector<storage::Migration> AnalysisModule::Migrations() const {
  auto m = MiningService::Migrations();
  for (auto& x : LabellingService::Migrations()) m.push_back(std::move(x));
  for (auto& x : UsageService::Migrations()) m.push_back(std::move(x));
  return m;
}

Status AnalysisModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(auth::AuthModule * auth, ctx.Need<auth::AuthModule>());
  AIMASS_ASSIGN_OR_RETURN(serving::ServingModule * serving, ctx.Need<serving::ServingModule>());
  AIMASS_ASSIGN_OR_RETURN(pipeline::PipelineModule * pipeline, ctx.Need<pipeline::PipelineModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetsModule * datasets, ctx.Need<datasets::DatasetsModule>());
  const auto& cfg = ctx.config();
  MiningOptions o;
  o.datasets = &datasets->datasets();
  o.bus = &events->bus();
  o.workers = static_cast<int>(cfg.analysis.mining_workers);
  o.threads = static_cast<int>(cfg.analysis.mining_threads);
  o.max_rows = static_cast<uint64_t>(cfg.analysis.mining_max_rows);
  o.run_workers = ctx.hooks().serves(kName);
  mining_ = std::make_unique<MiningService>(ctx.db(), o);
  LabellingOptions l;
  l.datasets = &datasets->datasets();
  l.serving = &serving->serving();
  l.pipelines = &pipeline->pipelines();
  l.auth = &auth->service();
  l.bus = &events->bus();
  labelling_ = std::make_unique<LabellingService>(ctx.db(), l);
  AIMASS_ASSIGN_OR_RETURN(gateway::GatewayModule * gateway, ctx.Need<gateway::GatewayModule>());
  AIMASS_ASSIGN_OR_RETURN(cube::CubeModule * cube, ctx.Need<cube::CubeModule>());
  UsageOptions u;
  u.datasets = &datasets->datasets();
  u.cubes = &cube->service();
  u.gateway = &gateway->gateway();
  u.bus = &events->bus();
  u.dataset = cfg.usage.dataset;
  u.flush_ms = cfg.usage.flush_s * 1000;
  u.retention_ms = cfg.usage.retention_h * 3'600'000;
  u.run = o.run_workers;
  usage_ = std::make_unique<UsageService>(ctx.db(), u);
  gateway_ = &gateway->gateway();
  serving_ = &serving->serving();
  count_usage_ = cfg.usage.enabled && o.run_workers;
  return mining_->Open();
}

Status AnalysisModule::RegisterRoutes(http::Router& router) {
  AIMASS_RETURN_IF_ERROR(analysis::RegisterRoutes(router, *mining_));
  AIMASS_RETURN_IF_ERROR(RegisterLabellingRoutes(router, *labelling_));
  return RegisterUsageRoutes(router, *usage_);
}

Status AnalysisModule::Start() {
  mining_->Start();
  if (count_usage_) {
    // In a process serving the gateway or serving only: a remote gateway counts in its own process.
    gateway_->SetUsageSink(usage_.get());
    serving_->SetUsageSink(usage_.get());
    usage_->Start();
  }
  return Status::Ok();
}

void AnalysisModule::Stop() {
  if (count_usage_) {
    gateway_->SetUsageSink(nullptr);
    serving_->SetUsageSink(nullptr);
  }
  if (usage_) usage_->Stop();
  if (mining_) mining_->Stop();
}

}  // namespace aimass::analysis
