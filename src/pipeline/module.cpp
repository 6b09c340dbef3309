#include "pipeline/module.hpp"

#include <unistd.h>

#include <climits>

#include "auth/module.hpp"
#include "cluster/module.hpp"
#include "events/module.hpp"
#include "pipeline/api.hpp"
#include "scheduler/module.hpp"

namespace aimass::pipeline {

Status PipelineModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(auth::AuthModule * auth, ctx.Need<auth::AuthModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(cluster::ClusterModule * cluster, ctx.Need<cluster::ClusterModule>());
  AIMASS_ASSIGN_OR_RETURN(scheduler::SchedulerModule * scheduler, ctx.Need<scheduler::SchedulerModule>());
  PipelinesOptions o;
  o.bus = &events->bus();
  // Set once the server listens, after the modules open: read it when a step starts.
  module::Hooks* hooks = &ctx.hooks();
  o.platform_url = [hooks] { return hooks->platform_url ? hooks->platform_url() : std::string(); };
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) o.aimass_binary.assign(exe, static_cast<size_t>(n));
  o.run_orchestrator = ctx.hooks().serves(kName);
  pipelines_ = std::make_unique<Pipelines>(ctx.db(), cluster->cluster(), auth->service(), scheduler->scheduler(), o);
  return Status::Ok();
}

Status PipelineModule::RegisterRoutes(http::Router& router) { return pipeline::RegisterRoutes(router, *pipelines_); }

Status PipelineModule::Start() {
  pipelines_->Start();
  return Status::Ok();
}

}  // namespace aimass::pipeline
