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

// Open-file-description locks (fcntl F_OFD_SETLK): owned by one open() of a file, released
// when it is closed or its process dies, and seen by every process on the host and, through
// the NFS lock protocol, on other hosts. Two open()s in one process conflict like two
// processes do. Returns false when `wait` is false and another holder conflicts, or on error.
enum class FileLock { kShared, kExclusive };
bool LockFile(int fd, FileLock kind, bool wait);
void UnlockFile(int fd);

// Creates `<prefix><random>.part` (O_EXCL, 0600, write-only) and holds an exclusive lock on it,
// so that a sweeper in another process (which deletes the temp files nobody holds) leaves it
// alone: a file the sweeper took between its creation and the lock is made again. Returns the
// descriptor and sets *path, or -1.
int CreateLockedTempFile(const std::string& prefix, std::string* path);

}  // namespace aimass
