// SQLite behind storage::Db: one writer connection behind a mutex (SQLite allows one writer at a
// time anyway; queuing in-process beats busy-waiting on the file lock), and a small pool of
// reader connections that WAL lets run concurrently with it.
#include <sqlite3.h>

#include <cctype>
#include <condition_variable>
#include <mutex>

#include "common/failpoint.hpp"
#include "storage/db.hpp"
#include "storage/transaction_body.hpp"

namespace aimass::storage {

namespace {

Status Error(sqlite3* db, const std::string& what) {
  int code = sqlite3_extended_errcode(db);
  std::string msg = what + ": " + sqlite3_errmsg(db);
  if ((code & 0xff) == SQLITE_CONSTRAINT) return Status::Conflict(msg);
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) return Status::Unavailable(msg);
  return Status::Internal(msg);
}

Status Bind(sqlite3* db, sqlite3_stmt* stmt, const std::vector<Value>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    int idx = static_cast<int>(i + 1);
    int rc = std::visit(
        [&](const auto& v) -> int {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>) return sqlite3_bind_null(stmt, idx);
          else if constexpr (std::is_same_v<T, int64_t>) return sqlite3_bind_int64(stmt, idx, v);
          else if constexpr (std::is_same_v<T, double>) return sqlite3_bind_double(stmt, idx, v);
          else return sqlite3_bind_text(stmt, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        },
        params[i]);
    if (rc != SQLITE_OK) return Error(db, "bind");
  }
  return Status::Ok();
}

// Runs one statement; collects rows when `rows` is given.
Result<int64_t> Run(sqlite3* db, const std::string& sql, const std::vector<Value>& params, Rows* rows,
                    std::vector<std::string>* names = nullptr) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
    return Error(db, "prepare");
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(stmt, sqlite3_finalize);
  if (names) {
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      const char* n = sqlite3_column_name(stmt, i);
      names->emplace_back(n ? n : "");
    }
  }
  AIMASS_RETURN_IF_ERROR(Bind(db, stmt, params));
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(db, "step");
    if (!rows) continue;
    int n = sqlite3_column_count(stmt);
    std::vector<Value> values;
    values.reserve(n);
    for (int i = 0; i < n; ++i) {
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL: values.emplace_back(nullptr); break;
        case SQLITE_INTEGER: values.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, i))); break;
        case SQLITE_FLOAT: values.emplace_back(sqlite3_column_double(stmt, i)); break;
        default: {
          const void* p = sqlite3_column_blob(stmt, i);
          int len = sqlite3_column_bytes(stmt, i);
          values.emplace_back(std::string(static_cast<const char*>(p), static_cast<size_t>(len)));
        }
      }
    }
    rows->emplace_back(std::move(values));
  }
  return static_cast<int64_t>(sqlite3_changes(db));
}

Status ExecScript(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
      return Status::Unavailable("sqlite: " + msg);
    }
    return Status::Internal("sqlite: " + msg);
  }
  return Status::Ok();
}

Result<sqlite3*> OpenConnection(const SqliteOptions& o, bool writer) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI |
              (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
  if (sqlite3_open_v2(o.path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::Internal("cannot open " + o.path + ": " + msg);
  }
  sqlite3_busy_timeout(db, o.busy_timeout_ms);
  std::string pragmas = "PRAGMA foreign_keys=ON;";
  if (writer) pragmas += "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";
  if (Status st = ExecScript(db, pragmas); !st.ok()) {
    sqlite3_close(db);
    return st;
  }
  return db;
}

class SqliteTx : public Tx {
 public:
  explicit SqliteTx(sqlite3* db) : db_(db) {}
  Result<Rows> Query(const std::string& sql, const std::vector<Value>& params) override {
    Rows rows;
    auto r = Run(db_, sql, params, &rows);
    if (!r.ok()) return r.status();
    return rows;
  }
  Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params) override {
    return Run(db_, sql, params, nullptr);
  }
  int64_t LastInsertId() override { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_;
};

class SqliteDb : public Db {
 public:
  SqliteDb(sqlite3* writer, std::vector<sqlite3*> readers)
      : writer_(writer), readers_(std::move(readers)), idle_(readers_) {}
  ~SqliteDb() override {
    for (sqlite3* r : readers_) sqlite3_close(r);
    sqlite3_close(writer_);
  }

  Result<Rows> Query(const std::string& sql, const std::vector<Value>& params) override {
    if (readers_.empty()) {
      std::lock_guard lock(write_mu_);
      return SqliteTx(writer_).Query(sql, params);
    }
    sqlite3* conn = AcquireReader();
    Rows rows;
    auto r = Run(conn, sql, params, &rows);
    ReleaseReader(conn);
    if (!r.ok()) return r.status();
    return rows;
  }

  Result<Rows> QueryColumns(const std::string& sql, const std::vector<Value>& params,
                            std::vector<std::string>* names) override {
    std::unique_lock<std::mutex> writing;
    sqlite3* conn;
    if (readers_.empty()) {
      writing = std::unique_lock(write_mu_);
      conn = writer_;
    } else {
      conn = AcquireReader();
    }
    Rows rows;
    auto r = Run(conn, sql, params, &rows, names);
    if (!readers_.empty()) ReleaseReader(conn);
    if (!r.ok()) return r.status();
    return rows;
  }

  Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params) override {
    std::lock_guard lock(write_mu_);
    // A single statement commits itself: the points sit around it as around a COMMIT.
    if (int err = AIMASS_FAILPOINT("db.before_commit")) return failpoint::IoError("metadata write", err);
    auto r = Run(writer_, sql, params, nullptr);
    if (r.ok()) {
      CountWrite();
      (void)AIMASS_FAILPOINT("db.after_commit");
    }
    return r;
  }

  Status Transaction(const std::function<Status(Tx&)>& fn) override {
    std::lock_guard lock(write_mu_);
    AIMASS_RETURN_IF_ERROR(ExecScript(writer_, "BEGIN IMMEDIATE"));
    SqliteTx tx(writer_);
    Status st = FinishTransaction(tx, fn, [this](const char* sql) { return ExecScript(writer_, sql); });
    if (st.ok()) CountWrite();
    return st;
  }

  Status Migrate(const std::vector<Migration>& migrations) override {
    AIMASS_RETURN_IF_ERROR(Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT "
        "NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (module, version))", {}).status());
    for (const Migration& m : migrations) {
      AIMASS_RETURN_IF_ERROR(Transaction([&](Tx& tx) -> Status {
        auto done = tx.Query("SELECT 1 FROM schema_migrations WHERE module = ? AND version = ?",
                             {m.module, int64_t{m.version}});
        if (!done.ok()) return done.status();
        if (!done->empty()) return Status::Ok();
        Status st = ExecScript(writer_, m.sql);
        if (!st.ok()) {
          return Status::Internal("migration " + m.module + "/" + std::to_string(m.version) +
                                  " failed: " + st.message());
        }
        return tx.Exec("INSERT INTO schema_migrations VALUES (?, ?, strftime('%s','now'))",
                       {m.module, int64_t{m.version}}).status();
      }));
    }
    std::lock_guard lock(write_mu_);
    Analyze();
    return Status::Ok();
  }

  // Each word becomes an FTS5 phrase ("word" "word": all must occur), so that no character of
  // the user's text is read as FTS5 syntax.
  std::string FullTextMatch(const std::string& table, const std::string& key, const std::string& words,
                            std::vector<Value>* params) const override {
    std::string query, word;
    auto flush = [&] {
      if (word.empty()) return;
      query += query.empty() ? "\"" : " \"";
      for (char c : word) query += c == '"' ? std::string("\"\"") : std::string(1, c);
      query += '"';
      word.clear();
    };
    for (char c : words) {
      if (std::isspace(static_cast<unsigned char>(c))) flush();
      else word.push_back(c);
    }
    flush();
    if (query.empty()) return "";
    params->emplace_back(std::move(query));
    return key + " IN (SELECT rowid FROM " + table + " WHERE " + table + " MATCH ?)";
  }

  std::string driver() const override { return "sqlite"; }

 private:
  sqlite3* AcquireReader() {
    std::unique_lock lock(pool_mu_);
    pool_cv_.wait(lock, [this] { return !idle_.empty(); });
    sqlite3* c = idle_.back();
    idle_.pop_back();
    return c;
  }
  void ReleaseReader(sqlite3* c) {
    {
      std::lock_guard lock(pool_mu_);
      idle_.push_back(c);
    }
    pool_cv_.notify_one();
  }

  // The query planner picks indexes from table statistics; without them it guesses, and at
  // 100,000 versions a guess can be the difference between 3 ms and 12 ms (a tag filter
  // walking every ONNX version). Statistics are refreshed at start and every kAnalyzeEvery
  // committed writes, sampling (analysis_limit) so that it costs milliseconds. Under write_mu_.
  static constexpr int64_t kAnalyzeEvery = 5000;
  void CountWrite() {
    if (++writes_ % kAnalyzeEvery == 0) Analyze();
  }
  void Analyze() { (void)ExecScript(writer_, "PRAGMA analysis_limit=1000; ANALYZE;"); }

  sqlite3* writer_;
  std::mutex write_mu_;
  int64_t writes_ = 0;
  std::vector<sqlite3*> readers_;
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<sqlite3*> idle_;
};

}  // namespace

Result<std::unique_ptr<Db>> OpenSqlite(const SqliteOptions& options) {
  auto writer = OpenConnection(options, true);
  if (!writer.ok()) return writer.status();
  std::vector<sqlite3*> readers;
  // An in-memory database is private to its connection: readers would see nothing.
  bool memory = options.path == ":memory:";
  for (int i = 0; !memory && i < options.readers; ++i) {
    auto r = OpenConnection(options, false);
    if (!r.ok()) {
      for (sqlite3* c : readers) sqlite3_close(c);
      sqlite3_close(*writer);
      return r.status();
    }
    readers.push_back(*r);
  }
  return std::unique_ptr<Db>(std::make_unique<SqliteDb>(*writer, std::move(readers)));
}

}  // namespace aimass::storage
