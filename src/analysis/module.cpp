#include "analysis/module.hpp"

#include "analysis/api.hpp"
#include "datasets/module.hpp"
#include "events/module.hpp"

namespace aimass::analysis {

Status AnalysisModule::Open(module::Context& ctx) {
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
  return mining_->Open();
}

Status AnalysisModule::RegisterRoutes(http::Router& router) { return analysis::RegisterRoutes(router, *mining_); }

Status AnalysisModule::Start() {
  mining_->Start();
  return Status::Ok();
}

void AnalysisModule::Stop() {
  if (mining_) mining_->Stop();
}

}  // namespace aimass::analysis
