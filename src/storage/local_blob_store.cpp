// Local BlobStore: <root>/objects/sha256/<first 2 hex>/<hex>, temp files in <root>/tmp. The
// root may be shared by several processes, on one host or over NFS/CephFS/GlusterFS: a writer
// holds a lock on its temp file for as long as it may still adopt it, so a starting process
// sweeps only the temp files of writers that are gone; and <root>/gc.lock serialises every
// process's Adopt (shared) with every process's per-blob GC decision (exclusive), as gc_mu_
// does within one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"
#include "storage/blob_store.hpp"

namespace fs = std::filesystem;

namespace aimass::storage {

static Status CheckHex(std::string_view digest) {
  if (digest.size() != 64) return Status::BadRequest("digest must be sha256:<64 hex digits>");
  for (char c : digest) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Status::BadRequest("digest must be sha256:<64 lowercase hex digits>");
    }
  }
  return Status::Ok();
}

Result<std::string> ParseDigest(std::string_view digest) {
  if (!digest.starts_with("sha256:")) return Status::BadRequest("digest must be sha256:<64 hex digits>");
  digest.remove_prefix(7);
  AIMASS_RETURN_IF_ERROR(CheckHex(digest));
  return std::string(digest);
}

namespace {

Status FsyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return failpoint::IoError("cannot open a blob file to sync it", errno);
  int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  if (err != 0) return failpoint::IoError("cannot sync a blob file", err);
  return Status::Ok();
}

class LocalBlobStore;

class LocalBlobWriter : public BlobWriter {
 public:
  LocalBlobWriter(LocalBlobStore& store, std::string path, int fd)
      : store_(store), path_(std::move(path)), fd_(fd) {}
  ~LocalBlobWriter() override {
    if (!committed_) ::unlink(path_.c_str());
    if (fd_ >= 0) ::close(fd_);
  }
  Status Write(std::string_view data) override {
    if (fd_ < 0) return Status::Internal("writer is closed");
    hash_.Update(data);
    int err = AIMASS_FAILPOINT("blob.write");
    if (err == 0 && !WriteAll(fd_, data)) err = errno;
    if (err != 0) return failpoint::IoError("cannot write a blob", err);
    return Status::Ok();
  }
  Result<BlobInfo> Commit() override;

 private:
  LocalBlobStore& store_;
  std::string path_;
  int fd_;
  Sha256 hash_;
  bool committed_ = false;
};

class LocalBlobStore : public BlobStore {
 public:
  explicit LocalBlobStore(std::string root) : root_(std::move(root)) {}
  ~LocalBlobStore() override {
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  Status Init() {
    std::error_code ec;
    fs::create_directories(root_ + "/objects/sha256", ec);
    fs::create_directories(root_ + "/tmp", ec);
    if (ec) return Status::Internal("cannot create blob directories under " + root_);
    lock_fd_ = ::open((root_ + "/gc.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) return Status::Internal("cannot open " + root_ + "/gc.lock");
    // A temp file nobody holds a lock on belongs to a writer that died before committing; one
    // that is locked is another process's upload in progress.
    for (const auto& e : fs::directory_iterator(root_ + "/tmp", ec)) {
      int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      if (LockFile(fd, FileLock::kShared, false)) fs::remove(e.path(), ec);
      ::close(fd);
    }
    return Status::Ok();
  }

  Result<std::unique_ptr<BlobWriter>> NewWriter() override {
    std::string path;
    int fd = CreateLockedTempFile(root_ + "/tmp/blob-", &path);
    if (fd < 0) return Status::Internal("cannot create temp blob file");
    return std::unique_ptr<BlobWriter>(std::make_unique<LocalBlobWriter>(*this, path, fd));
  }

  Result<BlobInfo> Adopt(const std::string& temp_path, const std::string& h) override {
    AIMASS_RETURN_IF_ERROR(CheckHex(h));
    // Serialised with GC's per-blob decision, here and in every process on this root: a blob
    // is never removed between "it exists, so this upload dedups onto it" and the caller's
    // answer.
    std::lock_guard lock(gc_mu_);
    RootLock shared(lock_fd_, FileLock::kShared);
    std::string final_path = ObjectPath(h);
    std::error_code ec;
    if (fs::exists(final_path, ec)) {
      fs::remove(temp_path, ec);  // dedup: the same bytes are already stored
      // Fresh again: GC spares young blobs, and this one is about to be referenced anew.
      ::utimensat(AT_FDCWD, final_path.c_str(), nullptr, 0);
      return Stat("sha256:" + h);
    }
    // On any failure the temp file goes: it is the caller's, but nothing can use it now, and
    // an upload's spool would otherwise wait for the next start to be cleared.
    auto drop = [&](Status st) {
      fs::remove(temp_path, ec);
      return st;
    };
    if (int err = AIMASS_FAILPOINT("blob.before_fsync")) return drop(failpoint::IoError("cannot sync a blob", err));
    if (Status st = FsyncPath(temp_path, false); !st.ok()) return drop(st);
    std::string dir = fs::path(final_path).parent_path();
    if (!fs::exists(dir, ec)) {
      fs::create_directories(dir, ec);
      if (Status st = FsyncPath(fs::path(dir).parent_path(), true); !st.ok()) return drop(st);
    }
    int err = AIMASS_FAILPOINT("blob.before_rename");
    if (err == 0 && ::rename(temp_path.c_str(), final_path.c_str()) != 0) err = errno;
    if (err != 0) return drop(failpoint::IoError("cannot move a blob into place", err));
    // The rename is durable only once the directory entry is.
    if (int err = AIMASS_FAILPOINT("blob.after_rename")) return failpoint::IoError("cannot sync a blob's directory", err);
    AIMASS_RETURN_IF_ERROR(FsyncPath(dir, true));
    return Stat("sha256:" + h);
  }

  Result<BlobInfo> Stat(std::string_view digest) override {
    AIMASS_ASSIGN_OR_RETURN(std::string h, ParseDigest(digest));
    struct stat st {};
    if (::stat(ObjectPath(h).c_str(), &st) != 0) return Status::NotFound("no blob sha256:" + h);
    return BlobInfo{"sha256:" + h, static_cast<uint64_t>(st.st_size)};
  }

  Result<std::string> LocalPath(std::string_view digest) override {
    AIMASS_ASSIGN_OR_RETURN(std::string h, ParseDigest(digest));
    std::string p = ObjectPath(h);
    std::error_code ec;
    if (!fs::exists(p, ec)) return Status::NotFound("no blob sha256:" + h);
    return p;
  }

  Result<GcStats> Gc(const std::function<bool(const std::string&)>& referenced,
                     std::chrono::seconds grace) override {
    GcStats stats;
    std::error_code ec;
    auto now = fs::file_time_type::clock::now();
    for (const auto& e : fs::recursive_directory_iterator(root_ + "/objects/sha256", ec)) {
      if (!e.is_regular_file()) continue;
      ++stats.scanned;
      std::string digest = "sha256:" + e.path().filename().string();
      // Mark and sweep one blob at a time under the lock that Adopt takes, so that the
      // decision and the removal see the same state (callers record references before they
      // Adopt).
      std::lock_guard lock(gc_mu_);
      RootLock exclusive(lock_fd_, FileLock::kExclusive);
      // Without the lock another process's upload could dedup onto a blob swept here.
      if (!exclusive.held) return Status::Unavailable("cannot lock " + root_ + "/gc.lock: GC needs file locks");
      if (referenced(digest)) continue;
      if (now - fs::last_write_time(e.path(), ec) < grace || ec) continue;
      uint64_t size = e.file_size(ec);
      if (fs::remove(e.path(), ec)) {
        ++stats.deleted;
        stats.bytes_freed += size;
      }
    }
    return stats;
  }

  std::string temp_dir() const override { return root_ + "/tmp"; }

  std::string ObjectPath(const std::string& hex) const {
    return root_ + "/objects/sha256/" + hex.substr(0, 2) + "/" + hex;
  }

 private:
  // Holds gc.lock for a scope.
  struct RootLock {
    RootLock(int fd, FileLock kind) : fd(fd) { held = LockFile(fd, kind, true); }
    ~RootLock() {
      if (held) UnlockFile(fd);
    }
    int fd;
    bool held = false;
  };

  std::string root_;
  int lock_fd_ = -1;
  std::mutex gc_mu_;
};

Result<BlobInfo> LocalBlobWriter::Commit() {
  if (fd_ < 0) return Status::Internal("writer is closed");
  // Closed (and unlocked) only once adopted: until then it is a live upload to every sweeper.
  auto info = store_.Adopt(path_, hash_.FinishHex());
  committed_ = info.ok();
  ::close(fd_);
  fd_ = -1;
  return info;
}

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenLocalBlobStore(const std::string& root) {
  auto store = std::make_unique<LocalBlobStore>(root);
  AIMASS_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace aimass::storage
