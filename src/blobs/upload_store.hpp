// UploadStore: the blob API's references (table blob_uploads): which digests users uploaded
// through /api/v1/blobs and still hold, so that GC keeps their bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"

namespace aimass::blobs {

class UploadStore {
 public:
  explicit UploadStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  // Adds the reference (written before the bytes, so GC never sees them unreferenced); how
  // many rows were added (0: the digest was held already).
  Result<int64_t> Insert(const std::string& digest, int64_t size, const std::string& user);
  // Drops the reference; how many rows went.
  Result<int64_t> Delete(const std::string& digest);
  Result<bool> Referenced(const std::string& digest);
  // At start-up: drops the rows whose bytes a crash kept from being stored. How many.
  Result<int64_t> DropDangling(storage::BlobStore& blobs);

 private:
  storage::Db& db_;
};

}  // namespace aimass::blobs
