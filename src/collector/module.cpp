#include "collector/module.hpp"

#include "collector/api.hpp"
#include "datasets/module.hpp"
#include "mq/module.hpp"

namespace aimass::collector {

Status CollectorModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetsModule * datasets, ctx.Need<datasets::DatasetsModule>());
  AIMASS_ASSIGN_OR_RETURN(mq::MqModule * mq, ctx.Need<mq::MqModule>());
  CollectorsOptions o;
  o.dir = ctx.config().data_dir + "/collectors";
  o.data_dir = ctx.config().data_dir;
  o.datasets = &datasets->datasets();
  o.broker = mq->broker();
  // Only a process that serves the module collects; a library reads the definitions.
  o.run = ctx.hooks().serves(kName);
  collectors_ = std::make_unique<Collectors>(ctx.db(), std::move(o));
  return Status::Ok();
}

Status CollectorModule::RegisterRoutes(http::Router& router) { return collector::RegisterRoutes(router, *collectors_); }

}  // namespace aimass::collector
