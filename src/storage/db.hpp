// Db: the metadata store every module keeps its tables in. SQLite is the embedded default;
// PostgreSQL (the distributed mode) implements the same interface. Modules write SQLite's
// dialect, kept to the subset sql_dialect.hpp translates (`?` placeholders, INTEGER/TEXT/REAL/
// BLOB, INSERT OR IGNORE, upserts with ON CONFLICT, LIMIT/OFFSET). Write transactions are
// serialised on both (one writer at a time, across processes on PostgreSQL), so a module's
// read-check-write inside Transaction() is safe. Thread-safe.
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
  Migration(std::string module_name, int version_number, std::string script, std::string postgres_script = "")
      : module(std::move(module_name)), version(version_number), sql(std::move(script)),
        postgres(std::move(postgres_script)) {}
  std::string module;
  int version = 0;
  std::string sql;  // may hold several statements
  // PostgreSQL's text where `sql` has no translation (FTS5, triggers); translated like `sql`,
  // so it may share parts with it. Empty: `sql` is used on both.
  std::string postgres;
};

class Db {
 public:
  virtual ~Db() = default;
  // Reads without a transaction (a consistent snapshot per statement).
  virtual Result<Rows> Query(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  virtual Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  // A read that also gives the result's column names (a user's query, whose shape only the
  // database knows: the SQL collector).
  virtual Result<Rows> QueryColumns(const std::string& sql, const std::vector<Value>& params,
                                    std::vector<std::string>* names) = 0;
  // Runs `fn` in a write transaction; commits when it returns Ok, rolls back otherwise.
  virtual Status Transaction(const std::function<Status(Tx&)>& fn) = 0;
  // Applies the migrations not yet recorded, each in its own transaction.
  virtual Status Migrate(const std::vector<Migration>& migrations) = 0;
  // A condition true for the rows whose id expression `key` names a row of the full-text
  // table `table` that holds every word of `words`: an FTS5 table on SQLite, a view with
  // columns (rowid, doc tsvector) on PostgreSQL. Appends its parameter to `params`; "" when
  // `words` has none.
  virtual std::string FullTextMatch(const std::string& table, const std::string& key,
                                    const std::string& words, std::vector<Value>* params) const = 0;
  virtual std::string driver() const = 0;
};

struct SqliteOptions {
  std::string path;            // ":memory:" for tests
  int busy_timeout_ms = 5000;
  int readers = 4;             // read connections (WAL lets them run beside the writer)
};

Result<std::unique_ptr<Db>> OpenSqlite(const SqliteOptions& options);

struct PostgresOptions {
  std::string dsn;        // libpq's: "host=… port=… dbname=… user=…" or postgresql://…
  int pool_size = 8;      // connections at most
  int connect_timeout_s = 10;
};

// Connects once to check the DSN; further connections open as the load needs them.
Result<std::unique_ptr<Db>> OpenPostgres(const PostgresOptions& options);

}  // namespace aimass::storage
