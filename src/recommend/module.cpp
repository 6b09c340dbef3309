#include "recommend/module.hpp"

#include "datasets/module.hpp"
#include "events/module.hpp"
#include "mq/module.hpp"
#include "pipeline/module.hpp"
#include "recommend/api.hpp"
#include "registry/module.hpp"

namespace aimass::recommend {

Status RecommendModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(registry::RegistryModule * registry, ctx.Need<registry::RegistryModule>());
  AIMASS_ASSIGN_OR_RETURN(pipeline::PipelineModule * pipeline, ctx.Need<pipeline::PipelineModule>());
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetsModule * datasets, ctx.Need<datasets::DatasetsModule>());
  AIMASS_ASSIGN_OR_RETURN(mq::MqModule * mq, ctx.Need<mq::MqModule>());
  RecommendOptions o;
  o.datasets = &datasets->datasets();
  o.broker = mq->broker();
  o.bus = &events->bus();
  o.registry = &registry->registry();
  o.pipelines = &pipeline->pipelines();
  service_ = std::make_unique<RecommendService>(ctx.db(), o);
  return service_->Load();
}

Status RecommendModule::RegisterRoutes(http::Router& router) { return recommend::RegisterRoutes(router, *service_); }

Status RecommendModule::Start() {
  service_->Start();
  return Status::Ok();
}

void RecommendModule::Stop() {
  if (service_) service_->Stop();
}

}  // namespace aimass::recommend
