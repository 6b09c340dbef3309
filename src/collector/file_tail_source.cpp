#include "collector/file_tail_source.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <thread>

namespace aimass::collector {

using nlohmann::json;

namespace {
constexpr size_t kChunk = 1 << 20;  // a line longer than this is rejected
constexpr auto kPoll = std::chrono::milliseconds(20);
}  // namespace

FileTailSource::FileTailSource(const json& source)
    : path_(source["path"].get<std::string>()), from_(source.value("from", "beginning")), parser_(source) {
  header_from_file_ = parser_.wants_header();
}

FileTailSource::~FileTailSource() { CloseFile(); }

void FileTailSource::CloseFile() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool FileTailSource::OpenPath() {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  ::fstat(fd, &st);
  CloseFile();
  fd_ = fd;
  inode_ = st.st_ino;
  position_ = 0;
  skipping_ = false;
  return true;
}

Status FileTailSource::ReadHeader() {
  if (!header_from_file_ || fd_ < 0) return Status::Ok();
  std::string buf(kChunk, '\0');
  ssize_t n = ::pread(fd_, buf.data(), buf.size(), 0);
  if (n <= 0) return Status::Ok();  // empty yet: the first line read will be the header
  size_t nl = std::string_view(buf.data(), static_cast<size_t>(n)).find('\n');
  if (nl == std::string::npos) return Status::Ok();
  std::string_view line(buf.data(), nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  AIMASS_RETURN_IF_ERROR(parser_.SetHeader(line));
  if (position_ == 0) position_ = nl + 1;
  return Status::Ok();
}

Status FileTailSource::Open(const json& offset) {
  CloseFile();
  if (header_from_file_) parser_.set_header({});
  if (offset.is_object() && offset.contains("inode")) {
    ino_t want = offset["inode"].get<ino_t>();
    uint64_t pos = offset.value("position", uint64_t{0});
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_ino == want) {
      OpenPath();
      position_ = pos;
    } else {
      // Rotated while we were away: find the old file by its inode beside the path.
      std::string dir = path_.substr(0, path_.rfind('/'));
      if (DIR* d = ::opendir(dir.empty() ? "/" : dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
          if (e->d_ino != want) continue;
          std::string p = dir + "/" + e->d_name;
          int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd >= 0) {
            fd_ = fd;
            inode_ = want;
            position_ = pos;
          }
          break;
        }
        ::closedir(d);
      }
      if (fd_ < 0) {
        spdlog::warn("collector: {} was rotated away while the collector was stopped; reading the new file from its start",
                     path_);
        OpenPath();
      }
    }
    if (fd_ >= 0) {
      struct stat st2 {};
      ::fstat(fd_, &st2);
      if (static_cast<uint64_t>(st2.st_size) < position_) position_ = 0;  // truncated meanwhile
    }
    return ReadHeader();
  }
  if (OpenPath()) {
    if (from_ == "end") {
      // After the last complete line: a line still being written is taken whole.
      struct stat st {};
      ::fstat(fd_, &st);
      uint64_t size = static_cast<uint64_t>(st.st_size);
      position_ = 0;
      std::string buf(64 * 1024, '\0');
      for (uint64_t end = size; end > 0 && position_ == 0;) {
        uint64_t start = end > buf.size() ? end - buf.size() : 0;
        ssize_t n = ::pread(fd_, buf.data(), end - start, static_cast<off_t>(start));
        if (n <= 0) break;
        size_t nl = std::string_view(buf.data(), static_cast<size_t>(n)).rfind('\n');
        if (nl != std::string_view::npos) position_ = start + nl + 1;
        end = start;
      }
    }
    AIMASS_RETURN_IF_ERROR(ReadHeader());
  }
  return Status::Ok();
}

Status FileTailSource::ReadLines(size_t max_rows, Pulled& out, size_t* taken) {
  *taken = 0;
  std::string buf(kChunk, '\0');
  while (*taken < max_rows) {
    ssize_t n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(position_));
    if (n < 0) return Status::Internal("cannot read " + path_);
    if (n == 0) return Status::Ok();
    std::string_view data(buf.data(), static_cast<size_t>(n));
    size_t start = 0;
    bool any = false;
    while (*taken < max_rows) {
      size_t nl = data.find('\n', start);
      if (nl == std::string_view::npos) break;
      any = true;
      std::string_view line = data.substr(start, nl - start);
      uint64_t at = position_ + start;
      start = nl + 1;
      if (skipping_) {
        skipping_ = false;  // the end of a line too long to take
        continue;
      }
      if (line.empty() || line == "\r") continue;
      if (parser_.wants_header()) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        AIMASS_RETURN_IF_ERROR(parser_.SetHeader(line));
        continue;
      }
      std::string position = "file:" + std::to_string(inode_) + ":" + std::to_string(at);
      auto row = parser_.Parse(line);
      if (row.ok()) {
        out.rows.push_back(std::move(*row));
        out.positions.push_back(std::move(position));
      } else {
        out.rejected.push_back({std::move(position), std::string(line.substr(0, 4096)), row.status().message()});
      }
      ++*taken;
    }
    if (!any && static_cast<size_t>(n) == kChunk) {
      // A line longer than a chunk: rejected once, and skipped up to its newline.
      if (!skipping_) {
        out.rejected.push_back({"file:" + std::to_string(inode_) + ":" + std::to_string(position_),
                                std::string(data.substr(0, 4096)), "the line is longer than 1 MiB"});
        ++*taken;
      }
      skipping_ = true;
      start = kChunk;
    }
    position_ += start;
    if (!any && start == 0) return Status::Ok();  // only a partial line is there
  }
  return Status::Ok();
}

Status FileTailSource::Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (true) {
    if (fd_ < 0 && OpenPath()) AIMASS_RETURN_IF_ERROR(ReadHeader());
    size_t taken = 0;
    if (fd_ >= 0) {
      struct stat st {};
      ::fstat(fd_, &st);
      // Truncated in place (copytruncate): the file is shorter than where we are, or what
      // precedes our position is no longer the end of a line (rewritten past it already).
      char before = '\n';
      bool rewritten = position_ > 0 && !skipping_ && static_cast<uint64_t>(st.st_size) >= position_ &&
                       (::pread(fd_, &before, 1, static_cast<off_t>(position_ - 1)) != 1 || before != '\n');
      if (static_cast<uint64_t>(st.st_size) < position_ || (rewritten && !(header_from_file_ && position_ == 0))) {
        position_ = 0;
        if (header_from_file_) parser_.set_header({});
      }
      AIMASS_RETURN_IF_ERROR(ReadLines(max_rows, out, &taken));
      if (taken == 0) {
        // At the end of this file: has the path moved on to a new one (rotation)?
        struct stat now {};
        if (::stat(path_.c_str(), &now) == 0 && now.st_ino != inode_) {
          ::fstat(fd_, &st);
          if (static_cast<uint64_t>(st.st_size) <= position_ + 0) {
            OpenPath();
            if (header_from_file_) parser_.set_header({});
            continue;
          }
        }
      }
    }
    out.offset = OffsetJson();
    if (taken > 0 || std::chrono::steady_clock::now() >= deadline) return Status::Ok();
    std::this_thread::sleep_for(kPoll);
  }
}

json FileTailSource::OffsetJson() const {
  if (fd_ < 0) return nullptr;
  return {{"inode", static_cast<uint64_t>(inode_)}, {"position", position_}};
}

json FileTailSource::Lag() {
  uint64_t behind = 0;
  if (fd_ >= 0) {
    struct stat st {};
    ::fstat(fd_, &st);
    if (static_cast<uint64_t>(st.st_size) > position_) behind += static_cast<uint64_t>(st.st_size) - position_;
    struct stat now {};
    if (::stat(path_.c_str(), &now) == 0 && now.st_ino != inode_) behind += static_cast<uint64_t>(now.st_size);
  }
  return {{"bytes", behind}};
}

}  // namespace aimass::collector
