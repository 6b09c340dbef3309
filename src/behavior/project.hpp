// One behaviour project's events and persons: what captures write and insights read. A capture
// is appended to the project's log (the message queue's partition log: CRC per record, group
// commit under fdatasync) and applied to the in-memory columns before it is acknowledged; a
// checkpoint writes the frozen parts and the dictionaries and persons to files and lets the log
// drop what they cover, so that a restart loads the checkpoint and replays only the log after it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "behavior/event.hpp"
#include "behavior/event_table.hpp"
#include "behavior/persons.hpp"
#include "common/status.hpp"
#include "olap/dictionary.hpp"

namespace aimass::mq {
class PartitionLog;
}

namespace aimass::behavior {

struct PropertyKey {
  std::string name;
  bool numeric = false;  // fixed by the first value seen
  olap::Dictionary dict;  // text keys' values
};

// Everything but the parts' rows, guarded by the project's lock.
struct ProjectState {
  olap::Dictionary events;    // event names
  olap::Dictionary distinct;  // distinct ids
  std::vector<PropertyKey> keys;
  std::unordered_map<std::string, size_t> key_index;
  Persons persons;
  std::vector<std::shared_ptr<const Part>> parts;  // oldest first
  EventColumns fresh;                              // the newest events, in arrival order
  std::unordered_set<uint64_t> seen;               // hashes of the event ids captured (deduplication)
  uint64_t next_part = 1;
  uint64_t duplicates = 0;  // events refused as seen before (since the start)

  const PropertyKey* Key(const std::string& name) const {
    auto it = key_index.find(name);
    return it == key_index.end() ? nullptr : &keys[it->second];
  }
  std::optional<size_t> KeyIndex(const std::string& name) const {
    auto it = key_index.find(name);
    if (it == key_index.end()) return std::nullopt;
    return it->second;
  }
  uint64_t rows() const;
};

// What a query reads without the lock: the parts (immutable) and each distinct id's person.
struct Snapshot {
  std::vector<std::shared_ptr<const Part>> parts;
  std::vector<uint32_t> roots;  // per distinct id code: the code of its person's root id
  // The ids of a person with several: ids[ids_begin[root] .. ids_begin[root + 1]) (ids_begin is
  // empty when no person has several; a person with one id has an empty range).
  std::vector<uint32_t> ids_begin, ids;
  std::span<const uint32_t> IdsOf(uint32_t root) const {
    if (ids_begin.empty()) return {};
    return {ids.data() + ids_begin[root], ids.data() + ids_begin[root + 1]};
  }
};

struct ProjectOptions {
  std::string dir;
  bool fsync = true;                 // acknowledge after an fdatasync (false: tests that crash on purpose use it)
  size_t freeze_rows = size_t{1} << 20;  // the newest events become a part at this many
};

class Project {
 public:
  static Result<std::unique_ptr<Project>> Open(std::string name, ProjectOptions options);
  ~Project();

  const std::string& name() const { return name_; }

  // Stores the events: durable once this returns. Events whose uuid the project has seen (or
  // that repeat one earlier in the batch) are skipped; returns how many were stored.
  Result<size_t> Capture(std::vector<Event> events);
  // Merges the person of `alias` into the person of `distinct_id`.
  Status Alias(const std::string& distinct_id, const std::string& alias);
  // Sets person properties (distinct id → properties), durably.
  Status SetProperties(const std::vector<std::pair<std::string, nlohmann::json>>& persons);

  // Freezes the newest events into a part and returns what a query reads.
  Snapshot Take();
  // Runs `f(const ProjectState&)` under the shared lock (dictionaries, keys, persons).
  template <typename F>
  auto Read(F&& f) const {
    std::shared_lock lock(mu_);
    return f(static_cast<const ProjectState&>(state_));
  }

  // Background work: freeze the newest events when there are many, merge small parts, and
  // checkpoint what is not saved. Returns whether it did anything.
  Result<bool> Maintain(bool force_checkpoint);
  nlohmann::json Stats() const;
  // Deletes the project's files, once any maintenance in progress has finished; captures and
  // maintenance after it are refused or skipped (a query holding the project still reads it).
  Status Destroy();

 private:
  Project(std::string name, ProjectOptions options);
  Status Recover();
  Status Append(uint8_t type, std::string payload);
  void Apply(const std::vector<Event>& events);  // under the exclusive lock
  void ApplyRecord(uint8_t type, std::string_view payload);
  void FreezeLocked();
  Status Checkpoint();

  std::string name_;
  ProjectOptions opt_;
  std::unique_ptr<mq::PartitionLog> log_;
  mutable std::shared_mutex mu_;
  ProjectState state_;
  uint64_t checkpoint_offset_ = 0;  // log records before it are in the checkpoint
  std::mutex maintain_mu_;          // one checkpoint or merge at a time
  bool destroyed_ = false;          // under mu_ and maintain_mu_
};

}  // namespace aimass::behavior
