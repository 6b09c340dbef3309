// sql: a query against a SQLite file (opened read-only) or a PostgreSQL database, run on a
// cron schedule and read incrementally by a cursor column: each run takes the rows whose
// cursor is above the last one stored, in cursor order, `max_rows` at a time (at once again
// while a run fills a batch). Offset: {"cursor": value}.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "collector/source.hpp"
#include "scheduler/schedule.hpp"
#include "storage/db.hpp"

struct sqlite3;

namespace aimass::collector {

class SqlSource final : public Source {
 public:
  SqlSource(const nlohmann::json& source, scheduler::Schedule schedule);
  ~SqlSource() override;
  Status Open(const nlohmann::json& offset) override;
  Status Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) override;
  nlohmann::json Lag() override;

 private:
  Status Connect();
  Result<storage::Rows> Run(const std::string& sql, const std::vector<storage::Value>& params, std::vector<std::string>* names);

  nlohmann::json source_;
  scheduler::Schedule schedule_;
  std::string driver_;
  sqlite3* sqlite_ = nullptr;
  std::unique_ptr<storage::Db> postgres_;
  nlohmann::json cursor_;  // null: from the start (or cursor_start)
  int64_t next_run_ms_ = 0;
  bool more_ = false;  // the last run filled its batch: run again at once
};

}  // namespace aimass::collector
