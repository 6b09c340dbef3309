// Whole-file reads and crash-safe whole-file writes (temp file, fchmod, fsync, rename, fsync
// of the directory): a crash leaves the old content or the new, never a mix.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.hpp"

namespace aimass {

Result<std::string> ReadFile(const std::string& path);
Status WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode);

}  // namespace aimass
