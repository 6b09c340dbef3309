#include "registry/module.hpp"

#include <spdlog/spdlog.h>

#include "blobs/module.hpp"
#include "events/module.hpp"
#include "registry/api.hpp"

namespace aimass::registry {

Status RegistryModule::Open(module::Context& ctx) {
  AIMASS_ASSIGN_OR_RETURN(blobs::BlobsModule * blobs, ctx.Need<blobs::BlobsModule>());
  AIMASS_ASSIGN_OR_RETURN(events::EventsModule * events, ctx.Need<events::EventsModule>());
  const config::Config& cfg = ctx.config();
  limits_ = TarLimits{static_cast<uint64_t>(cfg.registry.max_archive_files), cfg.registry.max_unpacked_bytes};
  registry_ = std::make_unique<Registry>(ctx.db(), blobs->store(), &events->bus());
  Registry* reg = registry_.get();
  blobs->AddReferrer([reg](const std::string& digest) { return reg->BlobReferenced(digest); });
  // Writes a crash cut short are decided before anything reads them (docs/guide/reliability.md).
  AIMASS_ASSIGN_OR_RETURN(RecoveryStats recovered, registry_->ResolvePending());
  if (recovered.ready + recovered.failed > 0) {
    spdlog::warn("registry: {} version(s) left pending by a crash: {} completed, {} failed",
                 recovered.ready + recovered.failed, recovered.ready, recovered.failed);
  }
  return Status::Ok();
}

Status RegistryModule::RegisterRoutes(http::Router& router) { return registry::RegisterRoutes(router, *registry_, limits_); }

}  // namespace aimass::registry
