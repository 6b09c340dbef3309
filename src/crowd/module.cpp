#include "crowd/module.hpp"

#include <unistd.h>

#include <climits>

#include "auth/module.hpp"
#include "cluster/module.hpp"
#include "common/text.hpp"
#include "crowd/api.hpp"
#include "cube/module.hpp"
#include "datasets/module.hpp"
#include "events/module.hpp"

namespace aimass::crowd {

Status CrowdModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(auth::AuthModule * auth, ctx.Need<auth::AuthModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(datasets::DatasetsModule * datasets, ctx.Need<datasets::DatasetsModule>());
  AIMASS_ASSIGN_OR_RETURN(cluster::ClusterModule * cluster, ctx.Need<cluster::ClusterModule>());
  AIMASS_ASSIGN_OR_RETURN(cube::CubeModule * cube, ctx.Need<cube::CubeModule>());
  const auto& cfg = ctx.config();
  CrowdOptions o;
  o.dir = cfg.crowd.dir.empty() ? cfg.data_dir + "/crowd" : cfg.crowd.dir;
  o.video_dirs = SplitCommaList(cfg.crowd.video_dirs);
  if (o.video_dirs.empty()) o.video_dirs.push_back(cfg.data_dir + "/videos");
  o.job_cpus = cfg.crowd.job_cpus;
  o.job_memory_mb = cfg.crowd.job_memory_mb;
  o.export_ms = cfg.crowd.export_s * 1000;
  o.stall_ms = cfg.crowd.stall_s * 1000;
  o.bus = &events->bus();
  o.datasets = &datasets->datasets();
  o.cubes = &cube->service();
  o.cluster = &cluster->cluster();
  o.auth = &auth->service();
  module::Hooks* hooks = &ctx.hooks();
  o.platform_url = [hooks] { return hooks->platform_url ? hooks->platform_url() : std::string(); };
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) o.aimass_binary.assign(exe, static_cast<size_t>(n));
  o.run_supervisor = ctx.hooks().serves(kName);
  service_ = std::make_unique<CrowdService>(ctx.db(), o);
  return service_->Open();
}

Status CrowdModule::RegisterRoutes(http::Router& router) { return crowd::RegisterRoutes(router, *service_); }

Status CrowdModule::Start() {
  service_->Start();
  return Status::Ok();
}

void CrowdModule::Stop() {
  if (service_) service_->Stop();
}

}  // namespace aimass::crowd
