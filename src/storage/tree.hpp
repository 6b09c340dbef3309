// Directory artifacts: a model that is a tree of files (weights plus tokenizer, config, …) is
// kept as one blob per file, so a file shared by two versions is stored once and each file can
// be fetched alone. A tree is named by its digest: the sha256 of its manifest written the way
// `sha256sum` prints, one "<sha256 hex>  <path>\n" line per file in byte order of the paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::storage {

struct TreeFile {
  std::string path;        // relative, '/'-separated, normalised (see NormalizeTreePath)
  uint64_t size = 0;
  std::string sha256_hex;
  bool executable = false;
  std::string temp_path;   // while being uploaded: where the bytes wait to be adopted
};

// A relative path that is safe to lay out under any directory: "./" prefixes and repeated
// slashes are dropped; absolute paths, "..", control characters, backslashes and names longer
// than 1024 bytes are bad_request. A trailing '/' (a directory) is refused too.
Result<std::string> NormalizeTreePath(std::string_view path);

// The tree digest of `files`, which must be sorted by path: sha256:<hex>.
std::string TreeDigest(const std::vector<TreeFile>& files);

}  // namespace aimass::storage
