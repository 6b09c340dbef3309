// CollectorStore: the collector module's tables: collectors (the document, its owner, paused,
// and the offset of progress that made no version: a batch of rejected rows only) and
// collector_rejected (rows that did not parse or fit, with the reason, once per position).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "collector/source.hpp"
#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::collector {

struct CollectorRow {
  std::string name;
  std::string dataset;
  std::string spec;  // JSON
  std::string owner;
  bool paused = false;
  std::string offset;  // JSON, "" when none is stored here
  int64_t offset_version = 0;  // the dataset's last collected version when `offset` was stored
  int64_t created_ms = 0, updated_ms = 0;
};

struct RejectedRow {
  int64_t id = 0;
  std::string position, row, reason;
  int64_t time_ms = 0;
};

class CollectorStore {
 public:
  explicit CollectorStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status Create(const CollectorRow& c);
  Result<CollectorRow> Get(const std::string& name);
  Result<std::vector<CollectorRow>> List();
  Status Delete(const std::string& name);
  Status SetPaused(const std::string& name, bool paused);
  // Rejected rows, once each (by position); with `offset` set, also the progress they made.
  Status Reject(const std::string& name, const std::vector<Rejected>& rows, int64_t now_ms,
                const std::optional<std::pair<std::string, int64_t>>& offset = std::nullopt);
  Result<std::vector<RejectedRow>> Rejections(const std::string& name, int64_t limit, int64_t offset);
  Result<int64_t> RejectedCount(const std::string& name);

 private:
  storage::Db& db_;
};

}  // namespace aimass::collector
