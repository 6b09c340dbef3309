#include "search/module.hpp"

#include "datasets/module.hpp"
#include "events/module.hpp"
#include "search/api.hpp"
#include "serving/module.hpp"

namespace aimass::search {

Status SearchModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(serving::ServingModule * serving, ctx.Need<serving::ServingModule>());
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetsModule * datasets, ctx.Need<datasets::DatasetsModule>());
  const auto& cfg = ctx.config();
  SearchOptions o;
  o.dir = cfg.search.dir.empty() ? cfg.data_dir + "/search" : cfg.search.dir;
  o.zh_dictionary = cfg.search.zh_dictionary;
  max_batch_bytes_ = cfg.search.max_batch_bytes;
  o.bus = &events->bus();
  o.serving = &serving->serving();
  o.datasets = &datasets->datasets();
  o.metrics = ctx.metrics();
  service_ = std::make_unique<SearchService>(ctx.db(), o);
  return service_->Open();
}

Status SearchModule::RegisterRoutes(http::Router& router) { return search::RegisterRoutes(router, *service_, max_batch_bytes_); }

void SearchModule::Stop() {
  if (service_) service_->Stop();
}

}  // namespace aimass::search
