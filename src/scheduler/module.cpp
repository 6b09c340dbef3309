#include "scheduler/module.hpp"

#include <filesystem>

#include "auth/module.hpp"
#include "discovery/module.hpp"
#include "events/module.hpp"
#include "mq/module.hpp"
#include "scheduler/api.hpp"
#include "scheduler/target_runner.hpp"

namespace aimass::scheduler {

Status SchedulerModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(auth::AuthModule * auth, ctx.Need<auth::AuthModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  AIMASS_ASSIGN_OR_RETURN(mq::MqModule * mq, ctx.Need<mq::MqModule>());
  const config::Config& cfg = ctx.config();
  TargetRunnerOptions to;
  to.auth = &auth->service();
  AIMASS_ASSIGN_OR_RETURN(discovery::DiscoveryModule * discovery, ctx.Need<discovery::DiscoveryModule>());
  to.broker = mq->broker();
  to.work_dir = cfg.data_dir + "/cron";
  module::Hooks* hooks = &ctx.hooks();
  discovery::Locator* locator = &discovery->locator();
  to.url_for = [hooks, locator](std::string_view path) -> Result<std::string> {
    std::string module = locator->RemoteModuleFor(path);
    if (!module.empty()) return locator->UrlOf(module);
    return hooks->platform_url ? hooks->platform_url() : std::string();
  };
  std::error_code ec;
  std::filesystem::create_directories(to.work_dir, ec);
  SchedulerOptions sopt;
  sopt.node = cfg.scheduler.node;
  sopt.lease_ttl_ms = cfg.scheduler.lease_ttl_s * 1000;
  sopt.metrics = ctx.metrics();
  cron_ = std::make_unique<Scheduler>(ctx.db(), MakeTargetRunner(std::move(to)), clock_, sopt, &events->bus());
  enabled_ = cfg.scheduler.enabled;
  return Status::Ok();
}

Status SchedulerModule::RegisterRoutes(http::Router& router) { return scheduler::RegisterRoutes(router, *cron_); }

Status SchedulerModule::Start() {
  if (enabled_) cron_->Start();
  return Status::Ok();
}

}  // namespace aimass::scheduler
