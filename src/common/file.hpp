// Whole-file reads and crash-safe whole-file writes (temp file, fchmod, fsync, rename, fsync
// of the directory): a crash leaves the old content or the new, never a mix.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.hpp"

namespace aimass {

Result<std::string> ReadFile(const std::string& path);
// Writes all of `data` to `fd`, through short writes and EINTR; false on any other error.
bool WriteAll(int fd, std::string_view data);
Status WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode);
// A random secret (64 bytes of randomness, as text) made once and kept at `path` (mode 0600);
// later calls read it back.
Result<std::string> KeptSecret(const std::string& path);

}  // namespace aimass
