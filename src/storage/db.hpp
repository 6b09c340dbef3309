// Db: the metadata store every module keeps its tables in. SQLite is the embedded default;
// PostgreSQL will implement the same interface for the distributed mode, so SQL written against
// it sticks to the common subset (`?` placeholders, INTEGER/TEXT/REAL/BLOB, no upsert tricks
// beyond ON CONFLICT). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.hpp"

namespace aimass::storage {

using Value = std::variant<std::nullptr_t, int64_t, double, std::string>;

class Row {
 public:
  explicit Row(std::vector<Value> values) : values_(std::move(values)) {}
  size_t size() const { return values_.size(); }
  bool IsNull(size_t i) const { return std::holds_alternative<std::nullptr_t>(values_.at(i)); }
  int64_t Int(size_t i) const;            // 0 for NULL
  double Double(size_t i) const;          // 0 for NULL
  std::string Text(size_t i) const;       // "" for NULL
  const Value& at(size_t i) const { return values_.at(i); }

 private:
  std::vector<Value> values_;
};

using Rows = std::vector<Row>;

// Statements run inside one transaction.
class Tx {
 public:
  virtual ~Tx() = default;
  virtual Result<Rows> Query(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  // Returns the number of rows changed.
  virtual Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  virtual int64_t LastInsertId() = 0;
};

// A numbered schema change of one module. Versions of a module apply in order, once.
struct Migration {
  std::string module;
  int version = 0;
  std::string sql;  // may hold several statements
};

class Db {
 public:
  virtual ~Db() = default;
  // Reads without a transaction (a consistent snapshot per statement).
  virtual Result<Rows> Query(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  virtual Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  // Runs `fn` in a write transaction; commits when it returns Ok, rolls back otherwise.
  virtual Status Transaction(const std::function<Status(Tx&)>& fn) = 0;
  // Applies the migrations not yet recorded, each in its own transaction.
  virtual Status Migrate(const std::vector<Migration>& migrations) = 0;
  virtual std::string driver() const = 0;
};

struct SqliteOptions {
  std::string path;            // ":memory:" for tests
  int busy_timeout_ms = 5000;
  int readers = 4;             // read connections (WAL lets them run beside the writer)
};

Result<std::unique_ptr<Db>> OpenSqlite(const SqliteOptions& options);

}  // namespace aimass::storage
