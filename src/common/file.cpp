#include "common/file.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/failpoint.hpp"
#include "common/random.hpp"

namespace aimass {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::BadRequest("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

Status WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  // Errors name the file, not its directory: they may reach a client, and paths are the server's.
  const std::string name = std::filesystem::path(path).filename().string();
  int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0) return failpoint::IoError("cannot write " + name, errno);
  // fchmod: a leftover temp file from a crash keeps its old mode through O_TRUNC.
  bool ok = ::fchmod(fd, mode) == 0 &&
            WriteAll(fd, data) &&
            ::fsync(fd) == 0;
  int err = ok ? 0 : errno;
  ::close(fd);
  if (err == 0) err = AIMASS_FAILPOINT("file.before_rename");
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return failpoint::IoError("cannot write " + name, err);
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // the rename is durable once the directory entry is
    ::close(dfd);
  }
  return Status::Ok();
}

Result<std::string> KeptSecret(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return ReadFile(path);
  std::string secret = RandomToken(64);
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(path, secret, 0600));
  return secret;
}

bool LockFile(int fd, FileLock kind, bool wait) {
  struct flock fl {};
  fl.l_type = kind == FileLock::kShared ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  for (;;) {
    if (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return true;
    if (errno != EINTR) return false;
  }
}

void UnlockFile(int fd) {
  struct flock fl {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  (void)::fcntl(fd, F_OFD_SETLK, &fl);
}

int CreateLockedTempFile(const std::string& prefix, std::string* path) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    *path = prefix + RandomToken(16) + ".part";
    int fd = ::open(path->c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return -1;
    }
    struct stat st {};
    if (LockFile(fd, FileLock::kExclusive, false) && ::fstat(fd, &st) == 0 && st.st_nlink > 0) return fd;
    // Locked by a sweeper, or swept (unlinked) before we locked it: start over.
    ::close(fd);
  }
  return -1;
}

}  // namespace aimass
