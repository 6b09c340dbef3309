#include "collector/directory_source.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include "common/time.hpp"

namespace aimass::collector {

using nlohmann::json;

namespace {
constexpr int64_t kSettledNs = 1'000'000'000;
constexpr auto kPoll = std::chrono::milliseconds(100);
}  // namespace

DirectorySource::DirectorySource(const json& source)
    : dir_(source["path"].get<std::string>()), glob_(source.value("glob", "*")), source_(source) {}

Status DirectorySource::Open(const json& offset) {
  mtime_ns_ = -1;
  file_.clear();
  position_ = 0;
  if (offset.is_object()) {
    mtime_ns_ = offset.value("mtime_ns", int64_t{-1});
    file_ = offset.value("file", "");
    position_ = offset.value("position", uint64_t{0});
  }
  return Status::Ok();
}

std::vector<DirectorySource::Entry> DirectorySource::Pending() const {
  std::vector<Entry> out;
  std::error_code ec;
  const int64_t now_ns = UnixNowMs() * 1'000'000;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (::fnmatch(glob_.c_str(), name.c_str(), FNM_PERIOD) != 0) continue;
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    // Settled: not written for a second. Ordered by the inode's change time, which a move into
    // the directory sets (mv, cp -p and rsync keep the old modification time).
    int64_t modified = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    int64_t m = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
    if (now_ns - modified < kSettledNs || now_ns - m < kSettledNs) continue;
    bool current = m == mtime_ns_ && name == file_;
    if (current ? position_ >= static_cast<uint64_t>(st.st_size) : std::tie(m, name) < std::tie(mtime_ns_, file_)) continue;
    out.push_back({m, name, static_cast<uint64_t>(st.st_size)});
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return std::tie(a.mtime_ns, a.name) < std::tie(b.mtime_ns, b.name); });
  return out;
}

Status DirectorySource::Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  size_t taken = 0;
  while (true) {
    for (const Entry& e : Pending()) {
      if (taken >= max_rows) break;
      if (!(e.mtime_ns == mtime_ns_ && e.name == file_)) {
        mtime_ns_ = e.mtime_ns;
        file_ = e.name;
        position_ = 0;
      }
      LineParser parser(source_);
      std::string path = dir_ + "/" + e.name;
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      std::string data(e.size, '\0');
      ssize_t n = ::pread(fd, data.data(), data.size(), 0);
      ::close(fd);
      if (n < 0) return Status::Internal("cannot read " + path);
      data.resize(static_cast<size_t>(n));
      if (!data.empty() && data.back() != '\n') data += '\n';  // a finished file's last line
      size_t start = 0;
      // The header of a CSV file is its first line, wherever reading resumes.
      if (parser.wants_header()) {
        size_t nl = data.find('\n');
        AIMASS_RETURN_IF_ERROR(parser.SetHeader(std::string_view(data).substr(0, nl)));
        start = nl + 1;
      }
      start = std::max<size_t>(start, position_);
      while (taken < max_rows && start < data.size()) {
        size_t nl = data.find('\n', start);
        std::string_view line(data.data() + start, nl - start);
        std::string position = "dir:" + e.name + ":" + std::to_string(e.mtime_ns) + ":" + std::to_string(start);
        start = nl + 1;
        if (line.empty() || line == "\r") continue;
        auto row = parser.Parse(line);
        if (row.ok()) {
          out.rows.push_back(std::move(*row));
          out.positions.push_back(std::move(position));
        } else {
          out.rejected.push_back({std::move(position), std::string(line.substr(0, 4096)), row.status().message()});
        }
        ++taken;
      }
      position_ = std::min<uint64_t>(start, e.size);
      if (start >= data.size()) position_ = e.size;  // done with this file
    }
    out.offset = {{"mtime_ns", mtime_ns_}, {"file", file_}, {"position", position_}};
    if (taken > 0 || std::chrono::steady_clock::now() >= deadline) return Status::Ok();
    std::this_thread::sleep_for(kPoll);
  }
}

json DirectorySource::Lag() {
  uint64_t bytes = 0;
  size_t files = 0;
  for (const Entry& e : Pending()) {
    bytes += e.size - ((e.mtime_ns == mtime_ns_ && e.name == file_) ? std::min(position_, e.size) : 0);
    ++files;
  }
  return {{"bytes", bytes}, {"files", files}};
}

}  // namespace aimass::collector
