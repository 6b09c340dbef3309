// Routes every process serves whatever its modules: health, readiness, metrics, OpenAPI, and the
// content-addressed blob API on storage::BlobStore.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "http/router.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"

namespace prometheus {
class Registry;
}

namespace aimass::server {

struct CoreDeps {
  storage::Db* db = nullptr;
  storage::BlobStore* blobs = nullptr;
  std::shared_ptr<prometheus::Registry> metrics;
  const std::atomic<bool>* ready = nullptr;
  int64_t blob_gc_grace_s = 3600;
  // The modules' parts of GC's mark phase: does anything still use this digest?
  std::vector<std::function<Result<bool>(const std::string& digest)>> blob_referrers;
  // Paths of the services behind the gateway, merged into /openapi.json (an OpenAPI `paths`
  // object); null: none.
  std::function<std::string()> service_paths;
  // Run before /metrics renders, to bring gauges read from elsewhere up to date.
  std::vector<std::function<void()>> before_scrape;
};

Status RegisterCoreRoutes(http::Router& router, const CoreDeps& deps);
Status RegisterBlobRoutes(http::Router& router, const CoreDeps& deps);
std::vector<storage::Migration> BlobMigrations();
// Digests the blob API's uploads still hold (the GC's mark phase for them).
Result<bool> BlobUploadReferenced(storage::Db& db, const std::string& digest);
// At start-up: drops the upload rows whose bytes a crash kept from being stored (the row is
// written first). How many.
Result<int64_t> DropDanglingUploads(storage::Db& db, storage::BlobStore& blobs);

// /api/v1/admin/failpoints (only when `failpoints_api` is on): list, arm and disarm
// failpoints at run time; admin only (permission failpoints:write / failpoints:read).
Status RegisterFailpointRoutes(http::Router& router);

// The OpenAPI 3 document for the route table.
std::string OpenApiDocument(const http::Router& router);

}  // namespace aimass::server
