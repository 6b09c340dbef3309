// PartitionLog: the append-only, segmented log of one topic partition (or of a subscription's
// dead letters). Segments are files named after their first offset; each record carries a
// CRC (mq/record.hpp). Open() recovers: it checks every record, cuts a torn or corrupt tail,
// and rebuilds the in-memory offset index. Append() returns once the fsync policy is met:
// `always` waits for an fdatasync covering its records, and concurrent appenders share one
// (group commit); `interval` and `never` return after write(2), a background Sync() flushing
// `interval` ones. Retention drops whole segments, never the one being written.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "mq/message.hpp"

namespace aimass::mq {

enum class FsyncPolicy { kAlways, kInterval, kNever };
Result<FsyncPolicy> ParseFsyncPolicy(std::string_view name);
const char* FsyncPolicyName(FsyncPolicy p);

struct Retention {
  int64_t max_age_ms = 0;      // 0: no limit
  uint64_t max_bytes = 0;      // 0: no limit
  uint64_t max_messages = 0;   // 0: no limit
};

struct LogOptions {
  std::string dir;
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  uint64_t segment_bytes = 64ull << 20;
  Retention retention;
};

class PartitionLog {
 public:
  // Opens (creating) the log in options.dir; `visit` sees every record recovered, oldest first
  // (the broker rebuilds its dedup window from them).
  static Result<std::unique_ptr<PartitionLog>> Open(LogOptions options,
                                                    const std::function<void(const Message&)>& visit = {});
  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // Stamps offsets and `now_ms` as the time (deliver/expire times stay as given), appends the
  // batch as one write, and returns once the fsync policy is met. Returns the first offset.
  Result<uint64_t> Append(std::vector<Message>& batch, int64_t now_ms);

  // Append in two steps, so that a caller can write to several partitions, or write its next
  // batch, before waiting: Write appends (in order, as Append) and returns at once with a
  // ticket; WaitDurable(ticket) returns once the fsync policy covers it (under `always`, one
  // fdatasync covers every write made before it started).
  struct Written {
    uint64_t first = 0;   // offset of the batch's first message
    uint64_t ticket = 0;  // what WaitDurable takes
  };
  Result<Written> Write(std::vector<Message>& batch, int64_t now_ms);
  Status WaitDurable(uint64_t ticket);

  // Up to `max` messages from `from` on (fewer at the end; stops early past `max_bytes`, but
  // always returns at least one when there is one). `from` below first_offset() reads from
  // there.
  Result<std::vector<Message>> Read(uint64_t from, size_t max, size_t max_bytes = 8u << 20) const;

  // The first offset whose append time is at or after `time_ms` (next_offset() if none).
  uint64_t OffsetForTime(int64_t time_ms) const;

  uint64_t first_offset() const;  // the oldest kept
  uint64_t next_offset() const;   // the one the next append gets
  uint64_t bytes() const;
  FsyncPolicy fsync() const { return opt_.fsync; }

  // fdatasync of what was written and not yet synced (the `interval` policy's flusher).
  Status Sync();
  // Drops whole old segments over the retention limits.
  void ApplyRetention(int64_t now_ms);
  // Drops every record (a purge); offsets keep increasing.
  Status Clear();
  // Drops the whole segments every record of which is before `offset` (what a checkpoint of
  // the records has made redundant), never the one being written.
  void DropBefore(uint64_t offset);

 private:
  struct Segment;
  // Writes zeros past the active segment's end (under mu_) so that the next `need` bytes, and
  // up to a megabyte more, land in blocks the file already has.
  Status ZeroAhead(Segment& seg, size_t need);
  explicit PartitionLog(LogOptions options);
  Status Recover(const std::function<void(const Message&)>& visit);
  Status Roll();  // starts a new segment at next_
  Status SyncLocked(std::unique_lock<std::mutex>& lock);
  Status SyncFailed(const std::string& path, int err);

  LogOptions opt_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Segment>> segments_;
  uint64_t next_ = 0;
  uint64_t written_seq_ = 0;  // bumped per append; what a sync covers
  Status broken_;  // set by a failed sync: no write is taken after it (under mu_)
  // Group commit: the appender that takes sync_mu_ first syncs for every one waiting.
  std::mutex sync_mu_;
  uint64_t synced_seq_ = 0;
};

}  // namespace aimass::mq
