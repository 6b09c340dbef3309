// /api/v1/blobs: streamed uploads into the BlobStore, downloads with HTTP Range, and GC.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "blobs/upload_store.hpp"
#include "http/router.hpp"
#include "storage/blob_store.hpp"

namespace aimass::blobs {

// Does anything still use this digest? One per module that keeps blobs (GC's mark phase).
using Referrer = std::function<Result<bool>(const std::string& digest)>;

struct ApiOptions {
  int64_t gc_grace_s = 3600;
  // Read at each GC; the upload references are checked too.
  const std::vector<Referrer>* referrers = nullptr;
  // Modules that keep blobs but are not open in this process: their references cannot be
  // asked here, so GC is refused (409) rather than sweep what they hold.
  std::vector<std::string> absent_keepers;
};

Status RegisterRoutes(http::Router& router, storage::BlobStore& blobs, UploadStore& uploads, ApiOptions options);

}  // namespace aimass::blobs
