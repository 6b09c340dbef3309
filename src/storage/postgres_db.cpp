// PostgreSQL behind storage::Db, for several processes sharing one metadata store. The
// modules' SQL is translated once per statement text (sql_dialect.hpp) and cached. Write
// transactions take one transaction-scoped advisory lock, so writers queue as they do on
// SQLite — across every process on the database — and a module's read-check-write in a
// transaction sees no interleaved writer: two processes racing the same change get one
// success and one 409, never a lost update. Reads run beside them on a small pool.
#include <libpq-fe.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "common/failpoint.hpp"
#include "storage/db.hpp"
#include "storage/sql_dialect.hpp"
#include "storage/transaction_body.hpp"

namespace aimass::storage {
namespace {

// Keys of pg_advisory_*lock: one for writers, one for migrations ("aimassW", "aimassM").
constexpr int64_t kWriteLock = 0x61696d61737357;
constexpr int64_t kMigrateLock = 0x61696d6173734d;

// SQLite's functions that the modules' SQL calls, for PostgreSQL. json_extract(doc, path)
// reads a number member ('$."key"' or '$.a.b'); anything else is NULL — the modules use it
// on metric maps only.
constexpr const char* kCompatibilityFunctions = R"sql(
CREATE OR REPLACE FUNCTION json_extract(doc text, path text) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::double precision END
  FROM (SELECT doc::jsonb #> (CASE WHEN path LIKE '$."%"' THEN ARRAY[substr(path, 4, length(path) - 4)]
                                   ELSE string_to_array(substr(path, 3), '.') END) AS v) AS member
$$;
)sql";

// libpq's messages span lines ("…failed: Connection refused\n\tIs the server running…"):
// one line for an error answer and the log.
std::string OneLine(std::string msg) {
  for (char& ch : msg) {
    if (ch == '\n' || ch == '\t' || ch == '\r') ch = ' ';
  }
  size_t end = msg.find_last_not_of(' ');
  msg.resize(end == std::string::npos ? 0 : end + 1);
  std::string out;
  for (char ch : msg) {
    if (ch == ' ' && !out.empty() && out.back() == ' ') continue;
    out += ch;
  }
  return out;
}

// SQLSTATE classes the modules act on: 23 (a constraint: the row exists, the reference is
// gone) is the caller's conflict; 08 (connection), 40 (serialisation, deadlock), 53
// (resources), 55P03 (lock_timeout: the writers' queue is long) and 57P0x (the server going
// down) are worth a retry later.
Status Error(const PGresult* res, PGconn* conn, const std::string& what) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string code = state ? state : "";
  std::string msg = OneLine(what + ": " + (res ? PQresultErrorMessage(res) : PQerrorMessage(conn)));
  if (code.rfind("23", 0) == 0) return Status::Conflict(msg);
  // Class 22 (data exception): a value the database cannot take, such as text that is not
  // UTF-8 or a number out of range. Values come from requests: the caller's mistake.
  if (code.rfind("22", 0) == 0) return Status::BadRequest(msg);
  if (code.empty() || code.rfind("08", 0) == 0 || code.rfind("40", 0) == 0 || code.rfind("53", 0) == 0 ||
      code.rfind("57P", 0) == 0 || code == "55P03" || PQstatus(conn) != CONNECTION_OK) {
    return Status::Unavailable(msg);
  }
  return Status::Internal(msg);
}

using ResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// Type OIDs of pg_type that come back as numbers.
constexpr Oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700, kFloat8 = 701,
              kNumeric = 1700, kBytea = 17;

Value Cell(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return nullptr;
  const char* text = PQgetvalue(res, row, col);
  switch (PQftype(res, col)) {
    case kInt8:
    case kInt2:
    case kInt4:
    case kOid:
      return static_cast<int64_t>(std::strtoll(text, nullptr, 10));
    case kBool:
      return int64_t{text[0] == 't'};
    case kFloat4:
    case kFloat8:
      return std::strtod(text, nullptr);
    case kNumeric: {
      // SUM() of integers is numeric: keep it an integer when it is one.
      std::string_view t(text);
      if (t.find_first_of(".eEN") == std::string_view::npos) {
        return static_cast<int64_t>(std::strtoll(text, nullptr, 10));
      }
      return std::strtod(text, nullptr);
    }
    case kBytea: {
      size_t n = 0;
      unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &n);
      std::string out(reinterpret_cast<char*>(raw), n);
      PQfreemem(raw);
      return out;
    }
    default:
      return std::string(text, static_cast<size_t>(PQgetlength(res, row, col)));
  }
}

// Runs one translated statement with parameters; every parameter goes as text of unknown type,
// so that the server infers it from where it stands (an int4 argument of substr(), a bigint
// LIMIT) as SQLite's loose typing would.
Result<int64_t> Run(PGconn* conn, const std::string& sql, const std::vector<Value>& params, Rows* rows,
                    std::vector<std::string>* names = nullptr) {
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Value& v = params[i];
    if (std::holds_alternative<std::nullptr_t>(v)) {
      values[i] = nullptr;
      continue;
    }
    if (auto p = std::get_if<int64_t>(&v)) texts[i] = std::to_string(*p);
    if (auto p = std::get_if<double>(&v)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", *p);
      texts[i] = buf;
    }
    if (auto p = std::get_if<std::string>(&v)) texts[i] = *p;
    values[i] = texts[i].c_str();
    lengths[i] = static_cast<int>(texts[i].size());
  }
  ResultPtr res(PQexecParams(conn, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                             lengths.data(), nullptr, 0),
                PQclear);
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error(res.get(), conn, "postgres");
  if (names && st == PGRES_TUPLES_OK) {
    for (int c = 0; c < PQnfields(res.get()); ++c) names->emplace_back(PQfname(res.get(), c));
  }
  if (rows && st == PGRES_TUPLES_OK) {
    int n = PQntuples(res.get()), cols = PQnfields(res.get());
    rows->reserve(rows->size() + static_cast<size_t>(n));
    for (int r = 0; r < n; ++r) {
      std::vector<Value> values_of_row;
      values_of_row.reserve(static_cast<size_t>(cols));
      for (int c = 0; c < cols; ++c) values_of_row.push_back(Cell(res.get(), r, c));
      rows->emplace_back(std::move(values_of_row));
    }
  }
  const char* changed = PQcmdTuples(res.get());
  return static_cast<int64_t>(changed && *changed ? std::strtoll(changed, nullptr, 10) : 0);
}

// A script of several statements, without parameters (migrations, BEGIN/COMMIT).
Status Script(PGconn* conn, const std::string& sql) {
  ResultPtr res(PQexec(conn, sql.c_str()), PQclear);
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return Error(res.get(), conn, "postgres");
  return Status::Ok();
}

// COMMIT of a transaction that had failed answers "ROLLBACK" with a success status: only the
// command tag tells that nothing was committed.
Status Commit(PGconn* conn) {
  ResultPtr res(PQexec(conn, "COMMIT"), PQclear);
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK) return Error(res.get(), conn, "postgres commit");
  if (std::string_view(PQcmdStatus(res.get())) != "COMMIT") {
    return Status::Internal("postgres commit: the transaction had failed and was rolled back");
  }
  return Status::Ok();
}

class PostgresDb;

class PostgresTx : public Tx {
 public:
  PostgresTx(PostgresDb& db, PGconn* conn) : db_(db), conn_(conn) {}
  Result<Rows> Query(const std::string& sql, const std::vector<Value>& params) override;
  Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params) override;
  int64_t LastInsertId() override {
    // The value the last INSERT drew from an identity column's sequence, in this session.
    Rows rows;
    if (!Run(conn_, "SELECT lastval()", {}, &rows).ok() || rows.empty()) return 0;
    return rows[0].Int(0);
  }

 private:
  PostgresDb& db_;
  PGconn* conn_;
};

class PostgresDb : public Db {
 public:
  explicit PostgresDb(PostgresOptions o) : options_(std::move(o)) {}
  ~PostgresDb() override {
    for (PGconn* c : idle_) PQfinish(c);
  }

  Status Connect() {
    AIMASS_ASSIGN_OR_RETURN(PGconn * c, NewConnection());
    Release(c);
    return Status::Ok();
  }

  // The translation of a statement, made once per distinct text.
  std::string Translate(const std::string& sql) {
    {
      std::shared_lock lock(cache_mu_);
      auto it = cache_.find(sql);
      if (it != cache_.end()) return it->second;
    }
    std::string pg = TranslateForPostgres(sql);
    std::unique_lock lock(cache_mu_);
    // Statement texts are the modules' own (built from a bounded set of parts), but never let a
    // mistake there grow the cache without bound.
    if (cache_.size() > 10000) cache_.clear();
    cache_.emplace(sql, pg);
    return pg;
  }

  Result<Rows> Query(const std::string& sql, const std::vector<Value>& params) override {
    return QueryColumns(sql, params, nullptr);
  }

  Result<Rows> QueryColumns(const std::string& sql, const std::vector<Value>& params,
                            std::vector<std::string>* names) override {
    AIMASS_ASSIGN_OR_RETURN(PGconn * c, Acquire());
    Rows rows;
    auto r = Run(c, Translate(sql), params, &rows, names);
    Release(c);
    if (!r.ok()) return r.status();
    return rows;
  }

  Result<int64_t> Exec(const std::string& sql, const std::vector<Value>& params) override {
    // One statement commits itself; it still queues behind the writers' lock, so that it never
    // lands in the middle of another process's read-check-write.
    Result<int64_t> changed = int64_t{0};
    Status st = Transaction([&](Tx& tx) -> Status {
      changed = tx.Exec(sql, params);
      return changed.status();
    });
    if (!st.ok()) return st;
    return changed;
  }

  Status Transaction(const std::function<Status(Tx&)>& fn) override {
    // One writer per process waits for the database-wide lock, holding one connection; the
    // others wait here, so that writers never take every connection from the readers.
    std::lock_guard writer(write_mu_);
    AIMASS_ASSIGN_OR_RETURN(PGconn * c, Acquire());
    Status st = RunTransaction(c, fn);
    Release(c);
    return st;
  }

  Status Migrate(const std::vector<Migration>& migrations) override {
    std::lock_guard writer(write_mu_);
    AIMASS_ASSIGN_OR_RETURN(PGconn * c, Acquire());
    // Processes starting together migrate one after the other: the second finds the work done.
    Status st = Script(c, "SELECT pg_advisory_lock(" + std::to_string(kMigrateLock) + ")");
    if (st.ok()) st = Script(c, kCompatibilityFunctions);
    if (st.ok()) {
      st = Script(c,
                  "CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version BIGINT NOT "
                  "NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (module, version))");
    }
    for (size_t i = 0; st.ok() && i < migrations.size(); ++i) {
      const Migration& m = migrations[i];
      st = RunTransaction(c, [&](Tx& tx) -> Status {
        AIMASS_ASSIGN_OR_RETURN(Rows done, tx.Query("SELECT 1 FROM schema_migrations WHERE module = ? AND version = ?",
                                                     {m.module, int64_t{m.version}}));
        if (!done.empty()) return Status::Ok();
        Status applied = Script(c, TranslateForPostgres(m.postgres.empty() ? m.sql : m.postgres));
        if (!applied.ok()) {
          return Status::Internal("migration " + m.module + "/" + std::to_string(m.version) +
                                  " failed: " + applied.message());
        }
        return tx.Exec("INSERT INTO schema_migrations VALUES (?, ?, extract(epoch from now())::bigint)",
                       {m.module, int64_t{m.version}})
            .status();
      });
    }
    (void)Script(c, "SELECT pg_advisory_unlock(" + std::to_string(kMigrateLock) + ")");
    Release(c);
    return st;
  }

  // `table` is a view (rowid, doc tsvector); the words are the user's plain text, which
  // plainto_tsquery reads without any operator syntax.
  std::string FullTextMatch(const std::string& table, const std::string& key, const std::string& words,
                            std::vector<Value>* params) const override {
    if (words.find_first_not_of(" \t\r\n") == std::string::npos) return "";
    params->emplace_back(words);
    return key + " IN (SELECT rowid FROM " + table + " WHERE doc @@ plainto_tsquery('simple', ?))";
  }

  std::string driver() const override { return "postgres"; }

 private:
  Status RunTransaction(PGconn* c, const std::function<Status(Tx&)>& fn) {
    if (Status begun = Script(c, "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kWriteLock) + ")"); !begun.ok()) {
      (void)Script(c, "ROLLBACK");  // the lock wait timed out: leave no aborted transaction behind
      return begun;
    }
    PostgresTx tx(*this, c);
    return FinishTransaction(tx, fn, [c](const char* sql) {
      return std::string_view(sql) == "COMMIT" ? Commit(c) : Script(c, sql);
    });
  }

  Result<PGconn*> NewConnection() {
    std::string timeout = std::to_string(options_.connect_timeout_s);
    // The DSN may be a URI or key=value pairs; expand_dbname reads either, and the later keys
    // add what it leaves out.
    const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
    const char* values[] = {options_.dsn.c_str(), timeout.c_str(), "aimass", nullptr};
    PGconn* c = PQconnectdbParams(keys, values, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
      std::string msg = OneLine(c ? PQerrorMessage(c) : "out of memory");
      PQfinish(c);
      // The DSN may hold a password: say where, never what.
      return Status::Unavailable("cannot connect to PostgreSQL: " + msg);
    }
    Configure(c);
    return c;
  }

  // Statements wait for locks (the writers' queue) at most this long, as SQLite's busy timeout.
  static void Configure(PGconn* c) { (void)Script(c, "SET lock_timeout = '30s'; SET client_min_messages = warning"); }

  Result<PGconn*> Acquire() {
    std::unique_lock lock(mu_);
    // Bounded: a caller that held every connection and asked for one more (a Db call inside a
    // transaction's function) gets an error rather than waiting for itself forever.
    if (!cv_.wait_for(lock, std::chrono::seconds(30), [this] { return !idle_.empty() || open_ < options_.pool_size; })) {
      return Status::Unavailable("all " + std::to_string(options_.pool_size) +
                                 " PostgreSQL connections stayed busy for 30 s (storage.pool_size)");
    }
    if (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      lock.unlock();
      // A connection the server dropped (restart, failover) is opened again before use.
      if (PQstatus(c) != CONNECTION_OK) {
        PQreset(c);
        if (PQstatus(c) == CONNECTION_OK) Configure(c);  // a new session: its settings again
      }
      if (PQstatus(c) != CONNECTION_OK) {
        std::string msg = OneLine(PQerrorMessage(c));
        PQfinish(c);
        Forget();
        return Status::Unavailable("PostgreSQL connection lost: " + msg);
      }
      return c;
    }
    ++open_;
    lock.unlock();
    auto c = NewConnection();
    if (!c.ok()) Forget();
    return c;
  }

  void Forget() {
    std::lock_guard lock(mu_);
    --open_;
    cv_.notify_one();
  }

  void Release(PGconn* c) {
    // A connection goes back idle, outside any transaction; one left in an aborted or open
    // transaction (a path that missed its ROLLBACK) is rolled back, or dropped if that fails.
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE &&
        (!Script(c, "ROLLBACK").ok() || PQtransactionStatus(c) != PQTRANS_IDLE)) {
      PQfinish(c);
      Forget();
      return;
    }
    {
      std::lock_guard lock(mu_);
      idle_.push_back(c);
    }
    cv_.notify_one();
  }

  PostgresOptions options_;
  std::mutex write_mu_;  // writers of this process, one at a time (see Transaction)
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> idle_;
  int open_ = 0;
  std::shared_mutex cache_mu_;
  std::unordered_map<std::string, std::string> cache_;

  friend class PostgresTx;
};

Result<Rows> PostgresTx::Query(const std::string& sql, const std::vector<Value>& params) {
  Rows rows;
  auto r = Run(conn_, db_.Translate(sql), params, &rows);
  if (!r.ok()) return r.status();
  return rows;
}

Result<int64_t> PostgresTx::Exec(const std::string& sql, const std::vector<Value>& params) {
  return Run(conn_, db_.Translate(sql), params, nullptr);
}

}  // namespace

Result<std::unique_ptr<Db>> OpenPostgres(const PostgresOptions& options) {
  if (options.dsn.empty()) return Status::BadRequest("storage.dsn is empty");
  // libpq's parse errors quote the text around the mistake, which may be the password: check
  // the syntax first and say only that it is wrong.
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.dsn.c_str(), &parse_error);
  if (!parsed) {
    PQfreemem(parse_error);
    return Status::BadRequest("storage.dsn is not a valid PostgreSQL connection string (key=value pairs or a postgresql:// URI)");
  }
  PQconninfoFree(parsed);
  auto db = std::make_unique<PostgresDb>(options);
  AIMASS_RETURN_IF_ERROR(db->Connect());
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace aimass::storage
