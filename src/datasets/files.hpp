// A files dataset (images, audio, text uploaded as a tar): each file is a blob, and the
// version's table is its manifest, a row per file, so rows, downloads, profiles, drift and
// expectations work on it as on any table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "datasets/column.hpp"

namespace aimass::datasets {

struct DatasetFile {
  std::string path;
  std::string digest;  // sha256:<hex>
  uint64_t size = 0;
  std::string media_type;
};

// path (string), size (integer), media_type (categorical), digest (string).
Schema FilesSchema();

}  // namespace aimass::datasets
