#include "assist/module.hpp"

#include "assist/api.hpp"
#include "events/module.hpp"
#include "mq/module.hpp"
#include "pipeline/module.hpp"
#include "search/module.hpp"
#include "serving/module.hpp"

namespace aimass::assist {

Status AssistModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(serving::ServingModule * serving, ctx.Need<serving::ServingModule>());
  AIMASS_ASSIGN_OR_RETURN(pipeline::PipelineModule * pipeline, ctx.Need<pipeline::PipelineModule>());
  AIMASS_ASSIGN_OR_RETURN(search::SearchModule * search, ctx.Need<search::SearchModule>());
  AIMASS_ASSIGN_OR_RETURN(mq::MqModule * mq, ctx.Need<mq::MqModule>());
  AssistOptions o;
  o.bus = &events->bus();
  o.serving = &serving->serving();
  o.pipelines = &pipeline->pipelines();
  o.search = &search->service();
  o.broker = mq->broker();
  service_ = std::make_unique<AssistService>(ctx.db(), o);
  return Status::Ok();
}

Status AssistModule::RegisterRoutes(http::Router& router) { return assist::RegisterRoutes(router, *service_); }

Status AssistModule::Start() {
  service_->Start();
  return Status::Ok();
}

void AssistModule::Stop() {
  if (service_) service_->Stop();
}

}  // namespace aimass::assist
