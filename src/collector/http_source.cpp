#include "collector/http_source.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "common/failpoint.hpp"
#include "common/file.hpp"

namespace aimass::collector {

using nlohmann::json;

namespace {
constexpr uint64_t kRollBytes = 64ull << 20;
}  // namespace

HttpSource::HttpSource(std::string spool_dir) : dir_(std::move(spool_dir)) {}

HttpSource::~HttpSource() {
  if (fd_ >= 0) ::close(fd_);
}

std::string HttpSource::FileFor(uint64_t start) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.log", static_cast<unsigned long long>(start));
  return dir_ + "/" + name;
}

Status HttpSource::Init() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Status::Internal("cannot create the spool " + dir_ + ": " + ec.message());
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".log") continue;
    files_[std::stoull(name.substr(0, 20))] = static_cast<uint64_t>(e.file_size(ec));
  }
  if (files_.empty()) files_[0] = 0;
  auto last = std::prev(files_.end());
  std::string path = FileFor(last->first);
  fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) return Status::Internal("cannot open the spool file " + path);
  // A push is acknowledged after its fdatasync; a tail without its newline was not.
  uint64_t size = last->second;
  if (size > 0) {
    uint64_t good = 0;  // after the last newline, looking back a chunk at a time
    std::string tail(1 << 20, '\0');
    for (uint64_t end = size; end > 0;) {
      uint64_t start = end > tail.size() ? end - tail.size() : 0;
      ssize_t n = ::pread(fd_, tail.data(), end - start, static_cast<off_t>(start));
      if (n <= 0) break;
      size_t nl = std::string_view(tail.data(), static_cast<size_t>(n)).rfind('\n');
      if (nl != std::string_view::npos) {
        good = start + nl + 1;
        break;
      }
      end = start;
    }
    if (good < size) {
      if (::ftruncate(fd_, static_cast<off_t>(good)) != 0) return Status::Internal("cannot cut the spool's torn tail");
      last->second = good;
    }
  }
  end_ = last->first + last->second;
  return Status::Ok();
}

Result<uint64_t> HttpSource::Append(const std::vector<std::string>& lines) {
  std::string data;
  for (const auto& l : lines) {
    data += l;
    data += '\n';
  }
  std::lock_guard lock(mu_);
  auto last = std::prev(files_.end());
  if (last->second >= kRollBytes) {
    std::string path = FileFor(end_);
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return Status::Internal("cannot open a new spool file");
    ::close(fd_);
    fd_ = fd;
    files_[end_] = 0;
    last = std::prev(files_.end());
  }
  uint64_t start = end_;
  if (!WriteAll(fd_, data)) {
    int err = errno;
    // Nothing half-written may stay: cut back to where this push began.
    (void)::ftruncate(fd_, static_cast<off_t>(last->second));
    return failpoint::IoError("writing the collector's spool", err);
  }
  if (AIMASS_FAILPOINT("collector.before_spool_sync")) {
    (void)::ftruncate(fd_, static_cast<off_t>(last->second));
    return failpoint::IoError("collector.before_spool_sync", EIO);
  }
  if (::fdatasync(fd_) != 0) {
    int err = errno;
    (void)::ftruncate(fd_, static_cast<off_t>(last->second));
    return failpoint::IoError("syncing the collector's spool", err);
  }
  last->second += data.size();
  end_ += data.size();
  grew_.notify_all();
  return start;
}

Status HttpSource::Open(const json& offset) {
  std::lock_guard lock(mu_);
  position_ = offset.is_object() ? offset.value("position", uint64_t{0}) : 0;
  if (position_ < files_.begin()->first) position_ = files_.begin()->first;
  if (position_ > end_) position_ = end_;
  return Status::Ok();
}

Status HttpSource::Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) {
  std::string path;
  uint64_t file_start = 0, readable = 0;
  {
    std::unique_lock lock(mu_);
    grew_.wait_for(lock, wait, [&] { return end_ > position_; });
    if (end_ <= position_) {
      out.offset = {{"position", position_}};
      return Status::Ok();
    }
    auto it = std::prev(files_.upper_bound(position_));
    if (position_ == it->first + it->second && std::next(it) != files_.end()) ++it;  // the next file
    file_start = it->first;
    readable = it->first + it->second - position_;
    path = FileFor(file_start);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot read the spool file " + path);
  std::string buf(std::min<uint64_t>(readable, 8 << 20), '\0');
  ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(position_ - file_start));
  ::close(fd);
  if (n < 0) return Status::Internal("cannot read the spool file " + path);
  std::string_view data(buf.data(), static_cast<size_t>(n));
  size_t start = 0, taken = 0;
  while (taken < max_rows) {
    size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) break;
    std::string_view line = data.substr(start, nl - start);
    std::string position = "http:" + std::to_string(position_ + start);
    start = nl + 1;
    json row = json::parse(line, nullptr, false);  // checked when pushed
    if (row.is_object()) {
      out.rows.push_back(std::move(row));
      out.positions.push_back(std::move(position));
    } else {
      out.rejected.push_back({std::move(position), std::string(line.substr(0, 4096)), "not a JSON object"});
    }
    ++taken;
  }
  position_ += start;
  out.offset = {{"position", position_}};
  return Status::Ok();
}

void HttpSource::Committed(const json& offset) {
  uint64_t upto = offset.is_object() ? offset.value("position", uint64_t{0}) : 0;
  std::lock_guard lock(mu_);
  // Every file wholly before the committed position, but never the one appends go to.
  while (files_.size() > 1) {
    auto first = files_.begin();
    if (first->first + first->second > upto) break;
    ::unlink(FileFor(first->first).c_str());
    files_.erase(first);
  }
}

json HttpSource::Lag() {
  std::lock_guard lock(mu_);
  return {{"bytes", end_ - std::min(end_, position_)}};
}

}  // namespace aimass::collector
