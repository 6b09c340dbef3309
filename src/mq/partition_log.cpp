#include "mq/partition_log.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "mq/record.hpp"

namespace fs = std::filesystem;

namespace aimass::mq {

Result<FsyncPolicy> ParseFsyncPolicy(std::string_view name) {
  if (name == "always") return FsyncPolicy::kAlways;
  if (name == "interval") return FsyncPolicy::kInterval;
  if (name == "never") return FsyncPolicy::kNever;
  return Status::BadRequest("fsync must be always, interval or never");
}

const char* FsyncPolicyName(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::kAlways: return "always";
    case FsyncPolicy::kInterval: return "interval";
    case FsyncPolicy::kNever: return "never";
  }
  return "interval";
}

// One file of the log: records base, base+1, … at `positions`.
struct PartitionLog::Segment {
  uint64_t base = 0;
  std::string path;
  int fd = -1;
  uint64_t size = 0;
  uint64_t zeroed = 0;  // the file's length: under `always`, zeros written ahead of `size`
  int64_t last_time_ms = 0;
  std::vector<uint32_t> positions;
  ~Segment() {
    if (fd >= 0) ::close(fd);
  }
  uint64_t end() const { return base + positions.size(); }
};

namespace {

std::string SegmentName(uint64_t base) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.log", static_cast<unsigned long long>(base));
  return name;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot open " + dir + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::Internal("cannot sync " + dir + ": " + std::strerror(errno));
  return Status::Ok();
}

// Under `always` the active segment is zero-filled ahead of the writes, a megabyte at a time:
// an fdatasync that must also record a grown file size (and new blocks) costs a journal commit,
// one of already-written blocks does not (0.16 ms against 0.3-0.4 ms on ext4 here). Zeros are
// written, not fallocated: writing into unwritten extents would cost the same commit.
constexpr uint64_t kZeroAhead = 1 << 20;

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

bool PreadAll(int fd, char* out, size_t n, uint64_t at) {
  while (n > 0) {
    ssize_t got = ::pread(fd, out, n, static_cast<off_t>(at));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got;
    n -= static_cast<size_t>(got);
    at += static_cast<uint64_t>(got);
  }
  return true;
}

}  // namespace

PartitionLog::PartitionLog(LogOptions options) : opt_(std::move(options)) {}
PartitionLog::~PartitionLog() {
  if (opt_.fsync != FsyncPolicy::kNever) (void)Sync();
}

Result<std::unique_ptr<PartitionLog>> PartitionLog::Open(LogOptions options,
                                                         const std::function<void(const Message&)>& visit) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Status::Internal("cannot create " + options.dir + ": " + ec.message());
  std::unique_ptr<PartitionLog> log(new PartitionLog(std::move(options)));
  AIMASS_RETURN_IF_ERROR(log->Recover(visit));
  return log;
}

Status PartitionLog::Recover(const std::function<void(const Message&)>& visit) {
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const auto& e : fs::directory_iterator(opt_.dir)) {
    std::string name = e.path().filename().string();
    if (name.size() != 24 || !name.ends_with(".log")) continue;
    files.emplace_back(std::stoull(name.substr(0, 20)), e.path().string());
  }
  std::sort(files.begin(), files.end());
  bool cut = false;
  for (auto& [base, path] : files) {
    if (cut) {
      // Records after a cut would leave a hole in the offsets: a later segment goes too.
      spdlog::warn("mq log {}: dropping segment {} after a corrupt record", opt_.dir, path);
      fs::remove(path);
      continue;
    }
    AIMASS_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
    auto seg = std::make_unique<Segment>();
    seg->base = base;
    seg->path = path;
    size_t pos = 0;
    Message m;
    while (pos < data.size()) {
      auto frame = ValidFrame(std::string_view(data).substr(pos));
      if (!frame) break;
      std::string_view payload = std::string_view(data).substr(pos + kRecordHeaderBytes, *frame - kRecordHeaderBytes);
      if (!DecodeRecord(payload, m) || m.offset != seg->end()) break;
      if (visit) visit(m);
      seg->positions.push_back(static_cast<uint32_t>(pos));
      seg->last_time_ms = m.timestamp_ms;
      pos += *frame;
    }
    seg->fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (seg->fd < 0) return Status::Internal("cannot open " + path + ": " + std::strerror(errno));
    if (pos < data.size() && AllZero(std::string_view(data).substr(pos))) {
      // Zeros written ahead under `always`: nothing was acknowledged there.
      if (::ftruncate(seg->fd, static_cast<off_t>(pos)) != 0) {
        return Status::Internal("cannot truncate " + path + ": " + std::strerror(errno));
      }
    } else if (pos < data.size()) {
      spdlog::warn("mq log {}: cutting {} bytes of torn or corrupt tail at offset {}", opt_.dir, data.size() - pos, seg->end());
      if (::ftruncate(seg->fd, static_cast<off_t>(pos)) != 0 || ::fdatasync(seg->fd) != 0) {
        return Status::Internal("cannot truncate " + path + ": " + std::strerror(errno));
      }
      cut = true;
    }
    seg->size = pos;
    seg->zeroed = pos;
    if (!segments_.empty() && seg->base != segments_.back()->end()) {
      return Status::Internal("mq log " + opt_.dir + ": segment " + path + " does not follow the one before");
    }
    segments_.push_back(std::move(seg));
  }
  next_ = segments_.empty() ? 0 : segments_.back()->end();
  return Status::Ok();
}

Status PartitionLog::Roll() {
  if (!segments_.empty()) {
    Segment& last = *segments_.back();
    // Only the active segment keeps zeros ahead: a closed one ends at its last record.
    if (last.zeroed > last.size && ::ftruncate(last.fd, static_cast<off_t>(last.size)) != 0) {
      return Status::Internal("cannot truncate " + last.path + ": " + std::strerror(errno));
    }
    last.zeroed = last.size;
    if (opt_.fsync != FsyncPolicy::kNever && ::fdatasync(last.fd) != 0) return SyncFailed(last.path, errno);
  }
  auto seg = std::make_unique<Segment>();
  seg->base = next_;
  seg->path = opt_.dir + "/" + SegmentName(next_);
  seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (seg->fd < 0) return Status::Internal("cannot create " + seg->path + ": " + std::strerror(errno));
  AIMASS_RETURN_IF_ERROR(SyncDir(opt_.dir));
  segments_.push_back(std::move(seg));
  return Status::Ok();
}

Status PartitionLog::ZeroAhead(Segment& seg, size_t need) {
  uint64_t want = std::max<uint64_t>(seg.size + need, std::min<uint64_t>(seg.zeroed + kZeroAhead, opt_.segment_bytes));
  std::string zeros(want - seg.zeroed, '\0');
  if (::lseek(seg.fd, static_cast<off_t>(seg.zeroed), SEEK_SET) < 0 || !WriteAll(seg.fd, zeros)) {
    int err = errno;
    (void)!::ftruncate(seg.fd, static_cast<off_t>(seg.size));
    seg.zeroed = seg.size;
    return failpoint::IoError("cannot extend the topic's log", err);
  }
  if (::fdatasync(seg.fd) != 0) return SyncFailed(seg.path, errno);
  seg.zeroed = want;
  return Status::Ok();
}

Result<PartitionLog::Written> PartitionLog::Write(std::vector<Message>& batch, int64_t now_ms) {
  if (batch.empty()) return Written{next_offset(), 0};
  uint64_t seq = 0, first = 0;
  {
    std::lock_guard lock(mu_);
    if (!broken_.ok()) return broken_;
    first = next_;
    std::string buf;
    std::vector<uint32_t> starts;
    starts.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].offset = next_ + i;
      batch[i].timestamp_ms = now_ms;
      starts.push_back(static_cast<uint32_t>(buf.size()));
      EncodeRecord(batch[i], buf);
    }
    if (segments_.empty() || (segments_.back()->size > 0 && segments_.back()->size + buf.size() > opt_.segment_bytes)) {
      AIMASS_RETURN_IF_ERROR(Roll());
    }
    Segment& seg = *segments_.back();
    if (opt_.fsync == FsyncPolicy::kAlways && seg.size + buf.size() > seg.zeroed) AIMASS_RETURN_IF_ERROR(ZeroAhead(seg, buf.size()));
    int err = AIMASS_FAILPOINT("mq.before_append");
    if (err == 0 && (::lseek(seg.fd, static_cast<off_t>(seg.size), SEEK_SET) < 0 || !WriteAll(seg.fd, buf))) err = errno;
    if (err != 0) {
      spdlog::error("mq log {}: cannot append: {}", opt_.dir, std::strerror(err));
      (void)!::ftruncate(seg.fd, static_cast<off_t>(seg.size));  // nothing half-written stays
      seg.zeroed = seg.size;
      return failpoint::IoError("cannot append to the topic's log", err);
    }
    (void)AIMASS_FAILPOINT("mq.after_append");
    for (uint32_t s : starts) seg.positions.push_back(static_cast<uint32_t>(seg.size) + s);
    seg.size += buf.size();
    seg.last_time_ms = now_ms;
    next_ += batch.size();
    seq = ++written_seq_;
  }
  return Written{first, seq};
}

Status PartitionLog::WaitDurable(uint64_t ticket) {
  if (opt_.fsync != FsyncPolicy::kAlways || ticket == 0) return Status::Ok();
  std::unique_lock sync(sync_mu_);
  if (synced_seq_ < ticket) {  // else a sync that started after this write covered it
    std::unique_lock lock(mu_);
    AIMASS_RETURN_IF_ERROR(SyncLocked(lock));
  }
  (void)AIMASS_FAILPOINT("mq.after_fsync");
  return Status::Ok();
}

Result<uint64_t> PartitionLog::Append(std::vector<Message>& batch, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(Written w, Write(batch, now_ms));
  AIMASS_RETURN_IF_ERROR(WaitDurable(w.ticket));
  return w.first;
}


// Called with sync_mu_ held and `lock` on mu_; syncs the active segment outside mu_ so that
// appends go on meanwhile (they join the next sync).
Status PartitionLog::SyncLocked(std::unique_lock<std::mutex>& lock) {
  if (segments_.empty()) return Status::Ok();
  uint64_t target = written_seq_;
  int fd = ::dup(segments_.back()->fd);  // the segment may be rolled or cleared meanwhile
  std::string path = segments_.back()->path;
  lock.unlock();
  int err = fd < 0 ? errno : AIMASS_FAILPOINT("mq.before_fsync");
  if (err == 0 && ::fdatasync(fd) != 0) err = errno;
  if (fd >= 0) ::close(fd);
  if (err != 0) {
    lock.lock();
    return SyncFailed(path, err);
  }
  synced_seq_ = std::max(synced_seq_, target);
  return Status::Ok();
}

// After a failed fdatasync the kernel may have dropped the unsynced pages and marked them
// clean, so a later sync that succeeds proves nothing about them. The partition takes no more
// writes; a restart recovers it from what is on disk (records are CRC-checked). Kafka takes a
// log directory offline on an I/O error for the same reason. Under mu_.
Status PartitionLog::SyncFailed(const std::string& path, int err) {
  spdlog::error("mq log {}: fdatasync of {} failed: {}; the partition takes no writes until restart", opt_.dir, path,
                std::strerror(err));
  Status st = failpoint::IoError("cannot sync the topic's log", err);
  broken_ = Status(st.code(), "the topic's log could not be synced earlier (" + std::string(std::strerror(err)) +
                                  "); the partition takes no writes until the server restarts");
  return st;
}

Status PartitionLog::Sync() {
  std::unique_lock sync(sync_mu_);
  std::unique_lock lock(mu_);
  if (synced_seq_ >= written_seq_) return Status::Ok();
  return SyncLocked(lock);
}

Result<std::vector<Message>> PartitionLog::Read(uint64_t from, size_t max, size_t max_bytes) const {
  std::vector<Message> out;
  while (out.size() < max) {
    // What to read, found under the lock; the reading itself outside it.
    int fd = -1;
    uint64_t start = 0, end = 0, first = 0;
    size_t count = 0;
    {
      std::lock_guard lock(mu_);
      if (segments_.empty() || from >= next_) break;
      from = std::max(from, segments_.front()->base);
      auto it = std::upper_bound(segments_.begin(), segments_.end(), from,
                                 [](uint64_t o, const auto& s) { return o < s->base; });
      const Segment& seg = **std::prev(it);
      if (from >= seg.end()) break;
      size_t i = from - seg.base;
      count = std::min(max - out.size(), seg.positions.size() - i);
      start = seg.positions[i];
      end = i + count < seg.positions.size() ? seg.positions[i + count] : seg.size;
      if (end - start > max_bytes) {
        // Shrink to the records that fit, always at least one.
        auto end_of = [&](size_t k) { return i + k < seg.positions.size() ? uint64_t{seg.positions[i + k]} : seg.size; };
        size_t fit = 1;
        while (fit < count && end_of(fit + 1) - start <= max_bytes) ++fit;
        count = fit;
        end = end_of(count);
      }
      first = from;
      fd = ::dup(seg.fd);
    }
    if (fd < 0) return Status::Internal(std::string("cannot read the log: ") + std::strerror(errno));
    std::string buf(end - start, '\0');
    bool ok = PreadAll(fd, buf.data(), buf.size(), start);
    ::close(fd);
    if (!ok) return Status::Internal("cannot read the log of " + opt_.dir);
    std::string_view rest = buf;
    for (size_t k = 0; k < count; ++k) {
      auto frame = ValidFrame(rest);
      Message m;
      if (!frame || !DecodeRecord(rest.substr(kRecordHeaderBytes, *frame - kRecordHeaderBytes), m) || m.offset != first + k) {
        return Status::Internal("corrupt record at offset " + std::to_string(first + k) + " in " + opt_.dir);
      }
      rest.remove_prefix(*frame);
      max_bytes -= std::min<size_t>(max_bytes, *frame);
      out.push_back(std::move(m));
    }
    from = first + count;
    if (max_bytes == 0) break;
  }
  return out;
}

uint64_t PartitionLog::OffsetForTime(int64_t time_ms) const {
  // Append times never decrease along the log: binary search, one record read per step.
  uint64_t lo = first_offset(), hi = next_offset();
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    auto got = Read(mid, 1);
    if (!got.ok() || got->empty()) return hi;
    if ((*got)[0].timestamp_ms < time_ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

uint64_t PartitionLog::first_offset() const {
  std::lock_guard lock(mu_);
  return segments_.empty() ? next_ : segments_.front()->base;
}

uint64_t PartitionLog::next_offset() const {
  std::lock_guard lock(mu_);
  return next_;
}

uint64_t PartitionLog::bytes() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& s : segments_) n += s->size;
  return n;
}

void PartitionLog::ApplyRetention(int64_t now_ms) {
  std::lock_guard lock(mu_);
  const Retention& r = opt_.retention;
  if (r.max_age_ms <= 0 && r.max_bytes == 0 && r.max_messages == 0) return;
  auto over = [&] {
    uint64_t bytes = 0;
    for (const auto& s : segments_) bytes += s->size;
    const Segment& oldest = *segments_.front();
    return (r.max_age_ms > 0 && oldest.last_time_ms > 0 && now_ms - oldest.last_time_ms > r.max_age_ms) ||
           (r.max_bytes > 0 && bytes > r.max_bytes) || (r.max_messages > 0 && next_ - oldest.base > r.max_messages);
  };
  while (segments_.size() > 1 && over()) {
    std::error_code ec;
    fs::remove(segments_.front()->path, ec);
    segments_.erase(segments_.begin());
  }
}

void PartitionLog::DropBefore(uint64_t offset) {
  std::lock_guard lock(mu_);
  while (segments_.size() > 1 && segments_.front()->end() <= offset) {
    std::error_code ec;
    fs::remove(segments_.front()->path, ec);
    segments_.erase(segments_.begin());
  }
}

Status PartitionLog::Clear() {
  std::unique_lock sync(sync_mu_);
  std::lock_guard lock(mu_);
  for (const auto& s : segments_) {
    std::error_code ec;
    fs::remove(s->path, ec);
  }
  segments_.clear();
  // An empty segment named after next_ keeps the offsets increasing across a restart.
  AIMASS_RETURN_IF_ERROR(Roll());
  synced_seq_ = written_seq_;
  return Status::Ok();
}

}  // namespace aimass::mq
