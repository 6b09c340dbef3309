#include "collector/sql_source.hpp"

#include <sqlite3.h>

#include <thread>

#include "common/time.hpp"

namespace aimass::collector {

using nlohmann::json;

namespace {

json ValueJson(const storage::Value& v) {
  if (std::holds_alternative<std::nullptr_t>(v)) return nullptr;
  if (auto p = std::get_if<int64_t>(&v)) return *p;
  if (auto p = std::get_if<double>(&v)) return *p;
  return std::get<std::string>(v);
}

storage::Value JsonValue(const json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  return nullptr;
}

}  // namespace

SqlSource::SqlSource(const json& source, scheduler::Schedule schedule)
    : source_(source), schedule_(std::move(schedule)), driver_(source["driver"].get<std::string>()) {}

SqlSource::~SqlSource() {
  if (sqlite_) sqlite3_close(sqlite_);
}

Status SqlSource::Connect() {
  if (driver_ == "sqlite") {
    if (sqlite_) return Status::Ok();
    std::string path = source_["path"].get<std::string>();
    if (sqlite3_open_v2(path.c_str(), &sqlite_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      std::string msg = sqlite_ ? sqlite3_errmsg(sqlite_) : "out of memory";
      sqlite3_close(sqlite_);
      sqlite_ = nullptr;
      return Status::Unavailable("cannot open " + path + ": " + msg);
    }
    sqlite3_busy_timeout(sqlite_, 5000);
    return Status::Ok();
  }
  if (postgres_) return Status::Ok();
  storage::PostgresOptions o;
  o.dsn = source_["dsn"].get<std::string>();
  o.pool_size = 1;
  AIMASS_ASSIGN_OR_RETURN(postgres_, storage::OpenPostgres(o));
  return Status::Ok();
}

Result<storage::Rows> SqlSource::Run(const std::string& sql, const std::vector<storage::Value>& params,
                                     std::vector<std::string>* names) {
  AIMASS_RETURN_IF_ERROR(Connect());
  if (postgres_) return postgres_->QueryColumns(sql, params, names);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(sqlite_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK) {
    return Status::BadRequest(std::string("the query does not run: ") + sqlite3_errmsg(sqlite_));
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(stmt, sqlite3_finalize);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& v = params[i];
    int idx = static_cast<int>(i + 1);
    if (auto p = std::get_if<int64_t>(&v)) sqlite3_bind_int64(stmt, idx, *p);
    else if (auto p = std::get_if<double>(&v)) sqlite3_bind_double(stmt, idx, *p);
    else if (auto p = std::get_if<std::string>(&v)) sqlite3_bind_text(stmt, idx, p->data(), static_cast<int>(p->size()), SQLITE_TRANSIENT);
    else sqlite3_bind_null(stmt, idx);
  }
  const int n = sqlite3_column_count(stmt);
  for (int i = 0; i < n; ++i) names->emplace_back(sqlite3_column_name(stmt, i));
  storage::Rows rows;
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Status::Unavailable(std::string("the query failed: ") + sqlite3_errmsg(sqlite_));
    std::vector<storage::Value> values;
    for (int i = 0; i < n; ++i) {
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL: values.emplace_back(nullptr); break;
        case SQLITE_INTEGER: values.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, i))); break;
        case SQLITE_FLOAT: values.emplace_back(sqlite3_column_double(stmt, i)); break;
        default:
          values.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                                          static_cast<size_t>(sqlite3_column_bytes(stmt, i))));
      }
    }
    rows.emplace_back(std::move(values));
  }
  return rows;
}

Status SqlSource::Open(const json& offset) {
  cursor_ = offset.is_object() && offset.contains("cursor") ? offset["cursor"]
                                                              : source_.value("cursor_start", json(nullptr));
  more_ = false;
  next_run_ms_ = 0;  // the first run is at once; then on the schedule
  return Status::Ok();
}

Status SqlSource::Pull(size_t max_rows, std::chrono::milliseconds wait, Pulled& out) {
  const int64_t now = UnixNowMs();
  if (!more_ && now < next_run_ms_) {
    std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(next_run_ms_ - now)));
    out.offset = {{"cursor", cursor_}};
    return Status::Ok();
  }
  const std::string col = source_["cursor_column"].get<std::string>();
  std::string sql = "SELECT * FROM (" + source_["query"].get<std::string>() + ") AS aimass_q";
  std::vector<storage::Value> params;
  if (!cursor_.is_null()) {
    sql += " WHERE \"" + col + "\" > ?";
    params.push_back(JsonValue(cursor_));
  }
  sql += " ORDER BY \"" + col + "\" LIMIT " + std::to_string(max_rows);
  std::vector<std::string> names;
  auto rows = Run(sql, params, &names);
  if (!rows.ok()) {
    next_run_ms_ = schedule_.NextAfter(now).value_or(now + 60000);
    return rows.status();
  }
  int cursor_index = -1;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == col) cursor_index = static_cast<int>(i);
  }
  if (cursor_index < 0) return Status::BadRequest("the query's result has no column '" + col + "'");
  // A full page may end inside a run of equal cursors, whose rest the next page (`> cursor`)
  // would skip: the run is left for the next page, unless the whole page is one run.
  size_t take = rows->size();
  const bool full = take >= max_rows;
  if (full && take > 0) {
    const storage::Value& last = rows->back().at(static_cast<size_t>(cursor_index));
    size_t keep = take;
    while (keep > 0 && (*rows)[keep - 1].at(static_cast<size_t>(cursor_index)) == last) --keep;
    if (keep > 0) take = keep;
  }
  rows->erase(rows->begin() + static_cast<std::ptrdiff_t>(take), rows->end());
  for (const auto& r : *rows) {
    json row = json::object();
    for (size_t i = 0; i < names.size(); ++i) row[names[i]] = ValueJson(r.at(i));
    cursor_ = ValueJson(r.at(static_cast<size_t>(cursor_index)));
    out.positions.push_back("sql:" + cursor_.dump());
    out.rows.push_back(std::move(row));
  }
  more_ = full;
  if (!more_) next_run_ms_ = schedule_.NextAfter(now).value_or(now + 60000);
  out.offset = {{"cursor", cursor_}};
  return Status::Ok();
}

json SqlSource::Lag() {
  return {{"next_run", next_run_ms_ ? json(Rfc3339Ms(next_run_ms_)) : json(nullptr)}, {"cursor", cursor_}};
}

}  // namespace aimass::collector
