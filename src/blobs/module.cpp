#include "blobs/module.hpp"

#include <spdlog/spdlog.h>

namespace aimass::blobs {

Status BlobsModule::Open(module::Context& ctx) {
  const config::Config& cfg = ctx.config();
  AIMASS_ASSIGN_OR_RETURN(store_, storage::OpenLocalBlobStore(cfg.storage.blob_dir.empty() ? cfg.data_dir + "/blobs" : cfg.storage.blob_dir));
  uploads_ = std::make_unique<UploadStore>(ctx.db());
  gc_grace_s_ = cfg.storage.blob_gc_grace_s;
  absent_keepers_ = ctx.hooks().absent_blob_keepers;
  AIMASS_ASSIGN_OR_RETURN(int64_t dangling, uploads_->DropDangling(*store_));
  if (dangling > 0) spdlog::warn("blobs: {} upload(s) cut short by a crash dropped", dangling);
  ctx.hooks().upload_spool_dir = store_->temp_dir();
  return Status::Ok();
}

Status BlobsModule::RegisterRoutes(http::Router& router) {
  return blobs::RegisterRoutes(router, *store_, *uploads_, ApiOptions{gc_grace_s_, &referrers_, absent_keepers_});
}

}  // namespace aimass::blobs
