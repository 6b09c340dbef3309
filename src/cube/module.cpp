#include "cube/module.hpp"

#include <unistd.h>

#include "cube/api.hpp"
#include "datasets/module.hpp"
#include "events/module.hpp"

namespace aimass::cube {

Status CubeModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetsModule * datasets, ctx.Need<datasets::DatasetsModule>());
  const auto& cfg = ctx.config();
  CubeOptions o;
  o.dir = cfg.cube.dir.empty() ? cfg.data_dir + "/cubes" : cfg.cube.dir;
  o.threads = static_cast<int>(cfg.cube.threads);
  o.query_memory = static_cast<size_t>(cfg.cube.query_memory_mb) << 20;
  // By default half of the machine's memory holds cube tables.
  const size_t physical = static_cast<size_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  o.data_memory = cfg.cube.memory_mb > 0 ? static_cast<size_t>(cfg.cube.memory_mb) << 20 : physical / 2;
  o.datasets = &datasets->datasets();
  o.bus = &events->bus();
  service_ = std::make_unique<CubeService>(ctx.db(), o);
  return service_->Open();
}

Status CubeModule::RegisterRoutes(http::Router& router) { return cube::RegisterRoutes(router, *service_); }

void CubeModule::Stop() {
  if (service_) service_->Stop();
}

}  // namespace aimass::cube
