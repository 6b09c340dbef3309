#include "storage/tar_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/random.hpp"
#include "common/sha256.hpp"

namespace aimass::storage {

UnpackedTree::~UnpackedTree() {
  // Adopted files were renamed away; unlinking those names again is a harmless ENOENT.
  for (const auto& f : files) {
    if (!f.temp_path.empty()) ::unlink(f.temp_path.c_str());
  }
}

namespace {

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveCloser>;

ArchivePtr NewReader() {
  ArchivePtr a(archive_read_new());
  archive_read_support_format_tar(a.get());  // ustar, pax and GNU tar
  archive_read_support_filter_gzip(a.get());
  return a;
}

// libarchive's own message for a malformed archive ("Truncated tar archive", "Damaged tar
// archive"), which never holds a server path because archives are opened by fd or memory.
Status Malformed(archive* a, const char* what) {
  const char* msg = archive_error_string(a);
  return Status::BadRequest(std::string(what) + (msg ? std::string(": ") + msg : std::string()));
}

// An unpacked file is a blob's temp file (adopted by the registry with a rename): its writes
// are the blob store's `blob.write` step.
Status WriteUnpacked(int fd, std::string_view data) {
  int err = AIMASS_FAILPOINT("blob.write");
  if (err == 0 && !WriteAll(fd, data)) err = errno;
  if (err != 0) return failpoint::IoError("cannot write an unpacked file", err);
  return Status::Ok();
}

Status CopyEntry(archive* a, const std::string& path, int fd, Sha256& hash, uint64_t& size,
                 uint64_t& total, const TarLimits& limits) {
  const void* block = nullptr;
  size_t len = 0;
  la_int64_t offset = 0;
  uint64_t written = 0;
  static const std::string zeros(64 * 1024, '\0');
  for (;;) {
    int r = archive_read_data_block(a, &block, &len, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return Malformed(a, "the archive is damaged");
    if (offset < 0 || static_cast<uint64_t>(offset) < written) {
      return Status::BadRequest("the archive is damaged: overlapping data in '" + path + "'");
    }
    // Sparse files arrive as blocks at offsets; the holes are zeros.
    uint64_t gap = static_cast<uint64_t>(offset) - written;
    if (total + gap + len > limits.max_bytes) {
      return Status::TooLarge("the archive unpacks to more than " +
                                     std::to_string(limits.max_bytes) + " bytes");
    }
    while (gap > 0) {
      std::string_view z(zeros.data(), std::min<uint64_t>(gap, zeros.size()));
      hash.Update(z);
      AIMASS_RETURN_IF_ERROR(WriteUnpacked(fd, z));
      gap -= z.size();
      written += z.size();
    }
    std::string_view data(static_cast<const char*>(block), len);
    hash.Update(data);
    AIMASS_RETURN_IF_ERROR(WriteUnpacked(fd, data));
    written += len;
    total = total + gap + len;
  }
  size = written;
  return Status::Ok();
}

Result<UnpackedTree> Unpack(archive* a, const std::string& temp_dir, const TarLimits& limits) {
  UnpackedTree tree;
  uint64_t total = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Malformed(a, tree.files.empty() ? "the upload is not a readable tar archive"
                                             : "the archive is damaged");
    }
    const char* raw = archive_entry_pathname(e);
    std::string shown = raw ? std::string(raw).substr(0, 200) : std::string();
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR) continue;
    if (type != AE_IFREG || archive_entry_hardlink(e) != nullptr) {
      return Status::BadRequest("'" + shown + "' is not a regular file: archives may hold only "
                                "files and directories");
    }
    if (!raw) return Status::BadRequest("an archive entry has no path");
    AIMASS_ASSIGN_OR_RETURN(std::string path, NormalizeTreePath(raw));
    if (tree.files.size() >= limits.max_files) {
      return Status::BadRequest("the archive holds more than " + std::to_string(limits.max_files) +
                                " files");
    }
    TreeFile f;
    f.path = std::move(path);
    f.executable = (archive_entry_perm(e) & 0111) != 0;
    f.temp_path = temp_dir + "/tree-" + RandomToken(16);
    int fd = ::open(f.temp_path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return Status::Internal("cannot create a temp file for an unpacked file");
    Sha256 hash;
    tree.files.push_back(f);  // from here on the temp file is the tree's to remove
    Status st = CopyEntry(a, tree.files.back().path, fd, hash, tree.files.back().size, total, limits);
    ::close(fd);
    if (!st.ok()) return st;
    tree.files.back().sha256_hex = hash.FinishHex();
  }
  if (tree.files.empty()) return Status::BadRequest("the archive holds no files");
  std::sort(tree.files.begin(), tree.files.end(),
            [](const TreeFile& x, const TreeFile& y) { return x.path < y.path; });
  for (size_t i = 1; i < tree.files.size(); ++i) {
    if (tree.files[i].path == tree.files[i - 1].path) {
      return Status::BadRequest("'" + tree.files[i].path.substr(0, 200) + "' is in the archive twice");
    }
  }
  return tree;
}

}  // namespace

Result<UnpackedTree> UnpackTar(const std::string& archive_path, const std::string& temp_dir,
                               const TarLimits& limits) {
  int fd = ::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot read the upload");
  ArchivePtr a = NewReader();
  Result<UnpackedTree> out = Status::Internal("unreachable");
  if (archive_read_open_fd(a.get(), fd, 1 << 20) != ARCHIVE_OK) {
    out = Malformed(a.get(), "the upload is not a readable tar archive");
  } else {
    out = Unpack(a.get(), temp_dir, limits);
  }
  a.reset();
  ::close(fd);
  return out;
}

Result<UnpackedTree> UnpackTarMemory(std::string_view data, const std::string& temp_dir,
                                     const TarLimits& limits) {
  ArchivePtr a = NewReader();
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK) {
    return Malformed(a.get(), "the upload is not a readable tar archive");
  }
  return Unpack(a.get(), temp_dir, limits);
}

bool IsTarContentType(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  std::string lower;
  for (char c : t) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char* name : {"application/x-tar", "application/tar", "application/gzip",
                           "application/x-gzip", "application/x-gtar", "application/tar+gzip"}) {
    if (lower == name) return true;
  }
  return false;
}

}  // namespace aimass::storage
