// Reads a directory artifact uploaded as a tar (plain or gzip-compressed) with libarchive. Each
// regular file goes to its own temp file, hashed on the way, ready to be adopted into the blob
// store. Only regular files and directories are accepted: links and devices would make the
// stored tree mean something else on each disk, and paths are normalised (tree.hpp) so that
// none can escape the directory it is laid out in. Every refusal is bad_request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "storage/tree.hpp"

namespace aimass::storage {

struct TarLimits {
  uint64_t max_files = 10000;
  uint64_t max_bytes = 1ull << 40;  // uncompressed total: a small gzip can expand a lot
};

// The files of an unpacked archive, sorted by path. Removes whatever temp files are still
// there when it goes (the ones not adopted).
class UnpackedTree {
 public:
  UnpackedTree() = default;
  UnpackedTree(UnpackedTree&& o) noexcept : files(std::move(o.files)) { o.files.clear(); }
  // Swaps, so the files this held are removed with `o`.
  UnpackedTree& operator=(UnpackedTree&& o) noexcept {
    files.swap(o.files);
    return *this;
  }
  ~UnpackedTree();

  std::vector<TreeFile> files;
};

// Unpacks the archive at `archive_path` into temp files under `temp_dir`.
Result<UnpackedTree> UnpackTar(const std::string& archive_path, const std::string& temp_dir,
                               const TarLimits& limits);
// The same over bytes in memory (the fuzz target's entry point).
Result<UnpackedTree> UnpackTarMemory(std::string_view data, const std::string& temp_dir,
                                     const TarLimits& limits);

// Whether a Content-Type names a tar upload: application/x-tar, application/tar, or a gzip
// type (application/gzip, application/x-gzip, application/x-gtar, application/tar+gzip).
bool IsTarContentType(std::string_view content_type);

}  // namespace aimass::storage
