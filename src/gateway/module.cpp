#include "gateway/module.hpp"

#include "auth/module.hpp"
#include "common/file.hpp"
#include "discovery/module.hpp"
#include "gateway/api.hpp"

namespace aimass::gateway {

Status GatewayModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(auth::AuthModule * auth, ctx.Need<auth::AuthModule>());
  const config::Config& cfg = ctx.config();
  GatewayOptions go;
  go.access_log = cfg.log.access;
  go.redis_url = cfg.gateway.redis_url;
  go.cache_max_bytes = cfg.gateway.cache_max_bytes;
  AIMASS_ASSIGN_OR_RETURN(discovery::DiscoveryModule * found, ctx.Need<discovery::DiscoveryModule>());
  go.discovery = &found->discovery();
  go.platform_routes = ctx.hooks().remote_paths;
  AIMASS_ASSIGN_OR_RETURN(go.oauth_secret, KeptSecret(cfg.data_dir + "/gateway-oauth-secret"));
  gateway_ = std::make_unique<Gateway>(ctx.db(), auth->service(), ctx.metrics(), go);
  AIMASS_RETURN_IF_ERROR(gateway_->Load());
  Gateway* gw = gateway_.get();
  ctx.hooks().openapi_paths.push_back([gw] { return gw->ServicePaths(); });
  return Status::Ok();
}

Status GatewayModule::RegisterRoutes(http::Router& router) { return gateway::RegisterRoutes(router, *gateway_); }

std::vector<module::StagedMiddleware> GatewayModule::Middleware() {
  return {{module::Stage::kResolve, gateway_->resolver()}};
}

}  // namespace aimass::gateway
