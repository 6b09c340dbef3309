// BlobStore: content-addressed storage for artifacts and datasets. A blob is named by the
// sha256 of its bytes ("sha256:<64 hex>"), so identical content is stored once. Writes go to a
// temp file that is fsynced and renamed into place: a blob is either whole and visible or not
// there at all, even if the writer is killed. Nothing is deleted except by Gc, a mark-and-sweep
// over the digests the modules still reference. The local implementation keeps files under
// <data_dir>/blobs; a shared filesystem or S3 store will implement the same interface.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace aimass::storage {

struct BlobInfo {
  std::string digest;  // sha256:<hex>
  uint64_t size = 0;
};

// Streams one blob in. Commit makes it visible; destroying an uncommitted writer discards it.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status Write(std::string_view data) = 0;
  virtual Result<BlobInfo> Commit() = 0;
};

struct GcStats {
  uint64_t scanned = 0;
  uint64_t deleted = 0;
  uint64_t bytes_freed = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  virtual Result<std::unique_ptr<BlobWriter>> NewWriter() = 0;
  // Takes ownership of a file already written under temp_dir() whose sha256 the caller computed
  // while writing it (the HTTP server's upload spool): fsync, then rename into place.
  virtual Result<BlobInfo> Adopt(const std::string& temp_path, const std::string& sha256_hex) = 0;
  virtual Result<BlobInfo> Stat(std::string_view digest) = 0;
  // A path the bytes can be read from (local stores), for zero-copy serving.
  virtual Result<std::string> LocalPath(std::string_view digest) = 0;
  // Deletes blobs that `referenced` does not claim and that are older than `grace`. Callers
  // record their reference to a digest before they Adopt it; each blob's check-and-remove is
  // atomic with respect to Adopt, so an acknowledged blob is never swept.
  virtual Result<GcStats> Gc(const std::function<bool(const std::string& digest)>& referenced,
                             std::chrono::seconds grace) = 0;
  // Where uploads may be spooled so that Adopt is a rename.
  virtual std::string temp_dir() const = 0;
};

// Checks "sha256:<64 lowercase hex>" and returns the hex part. Anything else —
// other lengths, upper case, slashes, dots — is bad_request, which keeps names out of paths.
Result<std::string> ParseDigest(std::string_view digest);

// Opens (creating) a local store rooted at `root`; removes temp files a crash left behind.
Result<std::unique_ptr<BlobStore>> OpenLocalBlobStore(const std::string& root);

}  // namespace aimass::storage
