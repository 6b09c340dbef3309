#include "storage/tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace aimass::storage {

struct TarWriter::State {
  std::vector<TarMember> members;
  int64_t mtime = 0;
  archive* a = nullptr;
  std::string* sink = nullptr;  // where the write callback appends; set for each Next
  size_t next = 0;              // the member to start next
  int fd = -1;                  // the member being copied
  uint64_t left = 0;            // its bytes still to copy
  bool closed = false;

  static la_ssize_t Write(archive*, void* self, const void* buf, size_t n) {
    auto* s = static_cast<State*>(self);
    if (s->sink) s->sink->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }

  Status Fail(const std::string& what) {
    const char* msg = a ? archive_error_string(a) : nullptr;
    return Status::Internal(what + (msg ? std::string(": ") + msg : std::string()));
  }

  Status StartMember() {
    const TarMember& m = members[next++];
    fd = ::open(m.source.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::Internal("a stored file of the version is missing");
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, m.executable ? 0755 : 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(m.size));
    archive_entry_set_mtime(e, mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK) return Fail("cannot write a tar header");
    left = m.size;
    return Status::Ok();
  }

  Status CopySome(size_t budget) {
    static thread_local std::string buf(256 * 1024, '\0');
    while (left > 0 && budget > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>({left, uint64_t{buf.size()}, uint64_t{budget}}));
      ssize_t got = ::read(fd, buf.data(), n);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return Status::Internal("a stored file of the version is shorter than recorded");
      if (archive_write_data(a, buf.data(), static_cast<size_t>(got)) != got) {
        return Fail("cannot write tar data");
      }
      left -= static_cast<uint64_t>(got);
      budget -= std::min(budget, static_cast<size_t>(got));
    }
    if (left == 0) {
      ::close(fd);
      fd = -1;
    }
    return Status::Ok();
  }
};

TarWriter::TarWriter(std::vector<TarMember> members, int64_t mtime) : s_(new State) {
  s_->members = std::move(members);
  s_->mtime = mtime;
}

TarWriter::~TarWriter() {
  if (s_->fd >= 0) ::close(s_->fd);
  // Freeing an unfinished archive flushes its tail through Write; the string of the last
  // Next may be gone by now, so the tail goes nowhere.
  s_->sink = nullptr;
  if (s_->a) archive_write_free(s_->a);
}

Result<bool> TarWriter::Next(std::string& out, size_t want) {
  State& s = *s_;
  if (s.closed) return false;
  s.sink = &out;
  size_t start = out.size();
  if (!s.a) {
    s.a = archive_write_new();
    // pax only where ustar cannot say it (long paths, sizes over 8 GiB).
    archive_write_set_format_pax_restricted(s.a);
    archive_write_add_filter_none(s.a);
    archive_write_set_bytes_in_last_block(s.a, 1);
    if (archive_write_open2(s.a, &s, nullptr, &State::Write, nullptr, nullptr) != ARCHIVE_OK) {
      return s.Fail("cannot start the tar stream");
    }
  }
  while (out.size() - start < want) {
    if (s.fd >= 0) {
      AIMASS_RETURN_IF_ERROR(s.CopySome(want - (out.size() - start)));
    } else if (s.next < s.members.size()) {
      AIMASS_RETURN_IF_ERROR(s.StartMember());
    } else {
      if (archive_write_close(s.a) != ARCHIVE_OK) return s.Fail("cannot finish the tar stream");
      s.closed = true;
      return false;
    }
  }
  return true;
}

}  // namespace aimass::storage
