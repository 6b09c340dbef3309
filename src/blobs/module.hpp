// The blobs module: the content-addressed blob store every module keeps bytes in (models,
// uploads), the blob API, and GC, whose mark phase asks every module that keeps blobs.
#pragma once

#include <memory>
#include <vector>

#include "blobs/api.hpp"
#include "blobs/upload_store.hpp"
#include "module/module.hpp"
#include "storage/blob_store.hpp"

namespace aimass::blobs {

class BlobsModule final : public module::Module {
 public:
  static constexpr std::string_view kName = "blobs";
  std::string_view name() const override { return kName; }
  bool core() const override { return true; }
  std::vector<storage::Migration> Migrations() const override { return UploadStore::Migrations(); }
  Status Open(module::Context& ctx) override;
  Status RegisterRoutes(http::Router& router) override;

  storage::BlobStore& store() { return *store_; }
  // A module that keeps blobs says so here, while it opens (GC keeps what any referrer holds).
  void AddReferrer(Referrer referrer) { referrers_.push_back(std::move(referrer)); }

 private:
  std::unique_ptr<storage::BlobStore> store_;
  std::unique_ptr<UploadStore> uploads_;
  std::vector<Referrer> referrers_;
  int64_t gc_grace_s_ = 3600;
  std::vector<std::string> absent_keepers_;
};

}  // namespace aimass::blobs
