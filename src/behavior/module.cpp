#include "behavior/module.hpp"

#include "behavior/api.hpp"
#include "datasets/module.hpp"
#include "events/module.hpp"
#include "mq/module.hpp"
#include "pipeline/module.hpp"
#include "registry/module.hpp"

namespace aimass::behavior {

Status BehaviorModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetsModule * datasets, ctx.Need<datasets::DatasetsModule>());
  AIMASS_ASSIGN_OR_RETURN(mq::MqModule * mq, ctx.Need<mq::MqModule>());
  AIMASS_ASSIGN_OR_RETURN(registry::RegistryModule * registry, ctx.Need<registry::RegistryModule>());
  AIMASS_ASSIGN_OR_RETURN(pipeline::PipelineModule * pipeline, ctx.Need<pipeline::PipelineModule>());
  const auto& cfg = ctx.config();
  BehaviorOptions o;
  o.dir = cfg.behavior.dir.empty() ? cfg.data_dir + "/behavior" : cfg.behavior.dir;
  o.threads = static_cast<int>(cfg.behavior.threads);
  o.fsync = cfg.behavior.fsync != "never";
  o.max_batch = static_cast<size_t>(cfg.behavior.max_batch);
  o.checkpoint_ms = cfg.behavior.checkpoint_s * 1000;
  o.datasets = &datasets->datasets();
  o.bus = &events->bus();
  o.broker = mq->broker();
  o.registry = &registry->registry();
  o.pipelines = &pipeline->pipelines();
  service_ = std::make_unique<BehaviorService>(ctx.db(), o);
  return service_->Open();
}

Status BehaviorModule::RegisterRoutes(http::Router& router) { return behavior::RegisterRoutes(router, *service_); }

void BehaviorModule::Stop() {
  if (service_) service_->Stop();
}

}  // namespace aimass::behavior
