// The mining jobs' table: each job's spec (its version pinned), state, phase and result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::analysis {

struct MiningRow {
  int64_t id = 0;
  std::string kind, dataset;
  int64_t version = 0;
  std::string spec;    // MiningSpecJson, the version a number
  std::string state;   // queued | running | succeeded | failed | cancelled
  std::string phase;   // while running: reading, computing, scoring
  std::string result;  // JSON, once succeeded
  std::string error;
  std::string owner;
  int64_t created_ms = 0, started_ms = 0, finished_ms = 0;
};

class MiningStore {
 public:
  explicit MiningStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Result<int64_t> Insert(const MiningRow& r);
  Result<MiningRow> Get(int64_t id, bool with_result);
  // Newest first, below `before` (0: from the newest); filters empty: any.
  Result<std::vector<MiningRow>> List(const std::string& state, const std::string& kind, const std::string& dataset, int64_t before,
                                      int64_t limit);
  // The oldest queued job, now running; none queued: nullopt. One claimant wins a job.
  Result<std::optional<MiningRow>> ClaimNext(int64_t now_ms);
  Status SetPhase(int64_t id, const std::string& phase);
  // Only from running: a job cancelled meanwhile stays cancelled. Returns whether it was written.
  Result<bool> Finish(int64_t id, const std::string& state, const std::string& result, const std::string& error, int64_t now_ms);
  // Queued or running → cancelled; returns whether it was.
  Result<bool> Cancel(int64_t id, int64_t now_ms);
  Status Delete(int64_t id);
  // Jobs a stop or a crash left running are queued again (their work is a function of their data).
  Result<int64_t> Requeue();

 private:
  storage::Db& db_;
};

}  // namespace aimass::analysis
