#include "registry/module.hpp"

#include <spdlog/spdlog.h>

#include "blobs/module.hpp"
#include "common/thread_name.hpp"
#include "events/module.hpp"
#include "registry/api.hpp"

namespace aimass::registry {

namespace {
constexpr auto kRenewEvery = std::chrono::seconds(5);
constexpr int64_t kWorkerTtlMs = 30000;
constexpr int kResolveEveryRenewals = 12;  // a minute
}  // namespace

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
  // Listed alive from now on, before any upload can start here (renewed by Start's watcher).
  AIMASS_RETURN_IF_ERROR(registry_->RenewWorker(kWorkerTtlMs));
  if (recovered.ready + recovered.failed > 0) {
    spdlog::warn("registry: {} version(s) left pending by a crash: {} completed, {} failed",
                 recovered.ready + recovered.failed, recovered.ready, recovered.failed);
  }
  return Status::Ok();
}

Status RegistryModule::RegisterRoutes(http::Router& router) { return registry::RegisterRoutes(router, *registry_, limits_); }

Status RegistryModule::Start() {
  watcher_ = NamedThread("registry", [this] { Watch(); });
  return Status::Ok();
}

void RegistryModule::Watch() {
  std::unique_lock lock(mu_);
  for (int round = 1;; ++round) {
    if (cv_.wait_for(lock, kRenewEvery, [this] { return stopping_; })) return;
    lock.unlock();
    if (Status st = registry_->RenewWorker(kWorkerTtlMs); !st.ok()) {
      spdlog::warn("registry: cannot renew this worker's listing: {}", st.message());
    }
    // Another process that died mid-upload left its versions pending: decide them here.
    if (round % kResolveEveryRenewals == 0) {
      auto recovered = registry_->ResolvePending();
      if (recovered.ok() && recovered->ready + recovered->failed > 0) {
        spdlog::warn("registry: {} version(s) left pending by a process that died: {} completed, {} failed",
                     recovered->ready + recovered->failed, recovered->ready, recovered->failed);
      }
    }
    lock.lock();
  }
}

void RegistryModule::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !watcher_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  watcher_.join();
  (void)registry_->RemoveWorker();
}

}  // namespace aimass::registry
