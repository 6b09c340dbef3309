#include "recommend/store.hpp"

#include <cerrno>

#include "common/failpoint.hpp"

namespace aimass::recommend {

using storage::Row;
using storage::Value;

namespace {

constexpr const char* kAppColumns = "name, owner, config, state, pipeline_run, model_version, error, created_ms, updated_ms";
constexpr const char* kItemColumns = "app, id, categories, labels, properties, hidden, ts_ms, updated_ms";
constexpr const char* kEvaluationColumns = "id, app, state, pipeline_run, request, result, error, created_ms";
constexpr const char* kExperimentColumns = "app, name, definition, state, started_ms, stopped_ms";
constexpr size_t kRowsPerInsert = 100;  // rows per INSERT statement: far fewer round trips for big batches
constexpr int64_t kScanBatch = 20000;

AppRow AppFrom(const Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5), r.Text(6), r.Int(7), r.Int(8)};
}
ItemRow ItemFrom(const Row& r) {
  return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5) != 0, r.Int(6), r.Int(7)};
}
EvaluationRow EvaluationFrom(const Row& r) {
  return {r.Int(0), r.Text(1), r.Text(2), r.Int(3), r.Text(4), r.Text(5), r.Text(6), r.Int(7)};
}
ExperimentRow ExperimentFrom(const Row& r) { return {r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5)}; }

// INSERT … VALUES (…), (…) for a chunk of rows of `columns` placeholders each.
std::string MultiInsert(const std::string& head, size_t columns, size_t rows, const std::string& tail = "") {
  std::string one = "(";
  for (size_t c = 0; c < columns; ++c) one += c ? ", ?" : "?";
  one += ")";
  std::string sql = head + " VALUES ";
  for (size_t r = 0; r < rows; ++r) sql += (r ? ", " : "") + one;
  return sql + tail;
}

}  // namespace

std::vector<storage::Migration> RecommendStore::Migrations() {
  return {{"recommend", 1, R"(
CREATE TABLE recommend_apps (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  config TEXT NOT NULL,
  state TEXT NOT NULL,
  pipeline_run INTEGER NOT NULL DEFAULT 0,
  model_version INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE recommend_items (
  app TEXT NOT NULL,
  id TEXT NOT NULL,
  categories TEXT NOT NULL,
  labels TEXT NOT NULL,
  properties TEXT NOT NULL,
  hidden INTEGER NOT NULL DEFAULT 0,
  ts_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (app, id)
);
CREATE TABLE recommend_users (
  app TEXT NOT NULL,
  id TEXT NOT NULL,
  labels TEXT NOT NULL,
  properties TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (app, id)
);
CREATE TABLE recommend_feedback (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  app TEXT NOT NULL,
  user_id TEXT NOT NULL,
  item TEXT NOT NULL,
  type TEXT NOT NULL,
  value REAL NOT NULL,
  ts_ms INTEGER NOT NULL,
  session TEXT NOT NULL DEFAULT ''
);
CREATE INDEX recommend_feedback_app ON recommend_feedback (app, id);
CREATE INDEX recommend_feedback_user ON recommend_feedback (app, user_id, id);
CREATE INDEX recommend_feedback_time ON recommend_feedback (app, ts_ms);
CREATE TABLE recommend_evaluations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  app TEXT NOT NULL,
  state TEXT NOT NULL,
  pipeline_run INTEGER NOT NULL DEFAULT 0,
  request TEXT NOT NULL,
  result TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE TABLE recommend_experiments (
  app TEXT NOT NULL,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  state TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  stopped_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (app, name)
);
CREATE TABLE recommend_exposures (
  app TEXT NOT NULL,
  experiment TEXT NOT NULL,
  variant TEXT NOT NULL,
  user_id TEXT NOT NULL,
  item TEXT NOT NULL,
  ts_ms INTEGER NOT NULL
);
CREATE INDEX recommend_exposures_experiment ON recommend_exposures (app, experiment, ts_ms);
CREATE TABLE recommend_imports (
  app TEXT NOT NULL,
  dataset TEXT NOT NULL,
  version INTEGER NOT NULL,
  rows_imported INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (app, dataset, version)
);
CREATE TABLE recommend_consumed (
  app TEXT NOT NULL,
  message TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (app, message)
);
)"}};
}

Status RecommendStore::CreateApp(const AppRow& a) {
  auto r = db_.Exec("INSERT INTO recommend_apps (name, owner, config, state, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    {a.name, a.owner, a.config, a.state, a.created_ms, a.updated_ms});
  if (!r.ok() && r.status().code() == Code::kConflict) return Status::Conflict("app '" + a.name + "' exists");
  return r.status();
}

Result<AppRow> RecommendStore::GetApp(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kAppColumns + " FROM recommend_apps WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no recommender app '" + name + "'");
  return AppFrom(rows[0]);
}

Result<std::vector<AppRow>> RecommendStore::ListApps() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kAppColumns + " FROM recommend_apps ORDER BY name"));
  std::vector<AppRow> out;
  for (const auto& r : rows) out.push_back(AppFrom(r));
  return out;
}

Status RecommendStore::UpdateConfig(const std::string& name, const std::string& config, int64_t now_ms) {
  return db_.Exec("UPDATE recommend_apps SET config = ?, updated_ms = ? WHERE name = ?", {config, now_ms, name}).status();
}

Status RecommendStore::SetTraining(const std::string& name, int64_t pipeline_run) {
  return db_.Exec("UPDATE recommend_apps SET state = 'training', pipeline_run = ?, error = '' WHERE name = ?", {pipeline_run, name})
      .status();
}

Status RecommendStore::SetTrained(const std::string& name, const std::string& state, int64_t model_version, const std::string& error) {
  if (model_version > 0) {
    return db_.Exec("UPDATE recommend_apps SET state = ?, model_version = ?, error = ? WHERE name = ?", {state, model_version, error, name})
        .status();
  }
  return db_.Exec("UPDATE recommend_apps SET state = ?, error = ? WHERE name = ?", {state, error, name}).status();
}

Status RecommendStore::DeleteApp(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const char* table : {"recommend_items", "recommend_users", "recommend_feedback", "recommend_evaluations",
                              "recommend_experiments", "recommend_exposures", "recommend_imports", "recommend_consumed"}) {
      AIMASS_RETURN_IF_ERROR(tx.Exec(std::string("DELETE FROM ") + table + " WHERE app = ?", {name}).status());
    }
    return tx.Exec("DELETE FROM recommend_apps WHERE name = ?", {name}).status();
  });
}

Status RecommendStore::PutItems(const std::vector<ItemRow>& items) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (size_t from = 0; from < items.size(); from += kRowsPerInsert) {
      const size_t n = std::min(kRowsPerInsert, items.size() - from);
      std::vector<Value> params;
      for (size_t k = from; k < from + n; ++k) {
        const ItemRow& i = items[k];
        for (Value v : {Value(i.app), Value(i.id), Value(i.categories), Value(i.labels), Value(i.properties),
                        Value(int64_t{i.hidden}), Value(i.ts_ms), Value(i.updated_ms)}) {
          params.push_back(std::move(v));
        }
      }
      AIMASS_RETURN_IF_ERROR(tx.Exec(MultiInsert(std::string("INSERT INTO recommend_items (") + kItemColumns + ")", 8, n,
                                                 " ON CONFLICT (app, id) DO UPDATE SET categories = excluded.categories, "
                                                 "labels = excluded.labels, properties = excluded.properties, "
                                                 "hidden = excluded.hidden, ts_ms = excluded.ts_ms, updated_ms = excluded.updated_ms"),
                                     params)
                                 .status());
    }
    return Status::Ok();
  });
}

Result<std::optional<ItemRow>> RecommendStore::GetItem(const std::string& app, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kItemColumns + " FROM recommend_items WHERE app = ? AND id = ?",
                                               {app, id}));
  if (rows.empty()) return std::optional<ItemRow>();
  return std::optional<ItemRow>(ItemFrom(rows[0]));
}

Result<std::vector<ItemRow>> RecommendStore::Items(const std::string& app, const std::string& after, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kItemColumns +
                                                   " FROM recommend_items WHERE app = ? AND id > ? ORDER BY id LIMIT ?",
                                               {app, after, limit}));
  std::vector<ItemRow> out;
  for (const auto& r : rows) out.push_back(ItemFrom(r));
  return out;
}

Status RecommendStore::DeleteItem(const std::string& app, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM recommend_items WHERE app = ? AND id = ?", {app, id}));
  if (n == 0) return Status::NotFound("app '" + app + "' has no item '" + id + "'");
  return Status::Ok();
}

Status RecommendStore::PutUsers(const std::vector<UserRow>& users) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const UserRow& u : users) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO recommend_users (app, id, labels, properties, created_ms) VALUES (?, ?, ?, ?, ?) "
                                     "ON CONFLICT (app, id) DO UPDATE SET labels = excluded.labels, properties = excluded.properties",
                                     {u.app, u.id, u.labels, u.properties, u.created_ms})
                                 .status());
    }
    return Status::Ok();
  });
}

Result<std::optional<UserRow>> RecommendStore::GetUser(const std::string& app, const std::string& id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT app, id, labels, properties, created_ms FROM recommend_users WHERE app = ? AND id = ?",
                                               {app, id}));
  if (rows.empty()) return std::optional<UserRow>();
  const Row& r = rows[0];
  return std::optional<UserRow>(UserRow{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)});
}

Result<std::vector<UserRow>> RecommendStore::Users(const std::string& app, const std::string& after, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT app, id, labels, properties, created_ms FROM recommend_users "
                                               "WHERE app = ? AND id > ? ORDER BY id LIMIT ?",
                                               {app, after, limit}));
  std::vector<UserRow> out;
  for (const auto& r : rows) out.push_back(UserRow{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)});
  return out;
}

namespace {

Status InsertFeedback(storage::Tx& tx, const std::string& app, const std::vector<FeedbackRow>& rows) {
  for (size_t from = 0; from < rows.size(); from += kRowsPerInsert) {
    const size_t n = std::min(kRowsPerInsert, rows.size() - from);
    std::vector<Value> params;
    for (size_t k = from; k < from + n; ++k) {
      const FeedbackRow& f = rows[k];
      for (Value v : {Value(app), Value(f.user), Value(f.item), Value(f.type), Value(f.value), Value(f.ts_ms), Value(f.session)}) {
        params.push_back(std::move(v));
      }
    }
    AIMASS_RETURN_IF_ERROR(
        tx.Exec(MultiInsert("INSERT INTO recommend_feedback (app, user_id, item, type, value, ts_ms, session)", 7, n), params).status());
  }
  if (AIMASS_FAILPOINT("recommend.before_feedback_commit")) return failpoint::IoError("recommend.before_feedback_commit", EIO);
  return Status::Ok();
}

}  // namespace

Status RecommendStore::AddFeedback(const std::string& app, const std::vector<FeedbackRow>& rows) {
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) { return InsertFeedback(tx, app, rows); }));
  if (AIMASS_FAILPOINT("recommend.after_feedback_commit")) return failpoint::IoError("recommend.after_feedback_commit", EIO);
  return Status::Ok();
}

Status RecommendStore::AddImport(const std::string& app, const std::string& dataset, int64_t version,
                                 const std::vector<FeedbackRow>& rows, int64_t now_ms) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    auto r = tx.Exec("INSERT INTO recommend_imports (app, dataset, version, rows_imported, created_ms) VALUES (?, ?, ?, ?, ?)",
                     {app, dataset, version, static_cast<int64_t>(rows.size()), now_ms});
    if (!r.ok() && r.status().code() == Code::kConflict) {
      return Status::Conflict("version " + std::to_string(version) + " of dataset '" + dataset + "' is imported into app '" + app + "' already");
    }
    AIMASS_RETURN_IF_ERROR(r.status());
    return InsertFeedback(tx, app, rows);
  });
}

Result<std::vector<size_t>> RecommendStore::AddFromMessages(const std::string& app,
                                                            const std::vector<std::pair<std::string, std::vector<FeedbackRow>>>& messages,
                                                            int64_t now_ms) {
  std::vector<size_t> stored;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) -> Status {
    stored.clear();
    std::vector<FeedbackRow> rows;
    for (size_t m = 0; m < messages.size(); ++m) {
      // A message stored before (redelivered after a crash between commit and ack) is skipped.
      AIMASS_ASSIGN_OR_RETURN(int64_t added, tx.Exec("INSERT INTO recommend_consumed (app, message, created_ms) VALUES (?, ?, ?) "
                                                     "ON CONFLICT (app, message) DO NOTHING",
                                                     {app, messages[m].first, now_ms}));
      if (added == 0) continue;
      stored.push_back(m);
      rows.insert(rows.end(), messages[m].second.begin(), messages[m].second.end());
    }
    return InsertFeedback(tx, app, rows);
  }));
  return stored;
}

Status RecommendStore::ForgetConsumed(int64_t before_ms) {
  return db_.Exec("DELETE FROM recommend_consumed WHERE created_ms < ?", {before_ms}).status();
}

Result<std::vector<nlohmann::json>> RecommendStore::Imports(const std::string& app) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT dataset, version, rows_imported, created_ms FROM recommend_imports WHERE app = ? "
                                               "ORDER BY created_ms", {app}));
  std::vector<nlohmann::json> out;
  for (const auto& r : rows) {
    out.push_back({{"dataset", r.Text(0)}, {"version", r.Int(1)}, {"rows", r.Int(2)}, {"at_ms", r.Int(3)}});
  }
  return out;
}

Status RecommendStore::ScanFeedback(const std::string& app, int64_t after_id, const std::function<Status(const FeedbackRow&)>& fn) {
  for (;;) {
    AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, user_id, item, type, value, ts_ms, session FROM recommend_feedback "
                                                 "WHERE app = ? AND id > ? ORDER BY id LIMIT ?",
                                                 {app, after_id, kScanBatch}));
    for (const auto& r : rows) {
      FeedbackRow f{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Double(4), r.Int(5), r.Text(6)};
      after_id = f.id;
      AIMASS_RETURN_IF_ERROR(fn(f));
    }
    if (static_cast<int64_t>(rows.size()) < kScanBatch) return Status::Ok();
  }
}

Status RecommendStore::ScanFeedbackSince(const std::string& app, int64_t from_ms,
                                         const std::function<Status(const FeedbackRow&)>& fn) {
  int64_t after_id = 0;
  for (;;) {
    AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, user_id, item, type, value, ts_ms, session FROM recommend_feedback "
                                                 "WHERE app = ? AND ts_ms >= ? AND id > ? ORDER BY id LIMIT ?",
                                                 {app, from_ms, after_id, kScanBatch}));
    for (const auto& r : rows) {
      FeedbackRow f{r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Double(4), r.Int(5), r.Text(6)};
      after_id = f.id;
      AIMASS_RETURN_IF_ERROR(fn(f));
    }
    if (static_cast<int64_t>(rows.size()) < kScanBatch) return Status::Ok();
  }
}

Result<std::vector<FeedbackRow>> RecommendStore::UserFeedback(const std::string& app, const std::string& user, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id, user_id, item, type, value, ts_ms, session FROM recommend_feedback "
                                               "WHERE app = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
                                               {app, user, limit}));
  std::vector<FeedbackRow> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Double(4), r.Int(5), r.Text(6)});
  return out;
}

Result<int64_t> RecommendStore::AddEvaluation(const EvaluationRow& e) {
  int64_t id = 0;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO recommend_evaluations (app, state, pipeline_run, request, created_ms) VALUES (?, ?, ?, ?, ?)",
                                   {e.app, e.state, e.pipeline_run, e.request, e.created_ms})
                               .status());
    id = tx.LastInsertId();
    return Status::Ok();
  }));
  return id;
}

Result<EvaluationRow> RecommendStore::GetEvaluation(const std::string& app, int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kEvaluationColumns +
                                                   " FROM recommend_evaluations WHERE app = ? AND id = ?",
                                               {app, id}));
  if (rows.empty()) return Status::NotFound("app '" + app + "' has no evaluation " + std::to_string(id));
  return EvaluationFrom(rows[0]);
}

Result<std::vector<EvaluationRow>> RecommendStore::Evaluations(const std::string& app, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kEvaluationColumns +
                                                   " FROM recommend_evaluations WHERE app = ? ORDER BY id DESC LIMIT ?",
                                               {app, limit}));
  std::vector<EvaluationRow> out;
  for (const auto& r : rows) out.push_back(EvaluationFrom(r));
  return out;
}

Status RecommendStore::SetEvaluationRun(int64_t id, int64_t pipeline_run) {
  return db_.Exec("UPDATE recommend_evaluations SET pipeline_run = ? WHERE id = ?", {pipeline_run, id}).status();
}

Status RecommendStore::FinishEvaluation(int64_t id, const std::string& state, const std::string& result, const std::string& error) {
  return db_.Exec("UPDATE recommend_evaluations SET state = ?, result = ?, error = ? WHERE id = ?", {state, result, error, id}).status();
}

Status RecommendStore::PutExperiment(const ExperimentRow& e) {
  auto r = db_.Exec("INSERT INTO recommend_experiments (app, name, definition, state, started_ms) VALUES (?, ?, ?, ?, ?)",
                    {e.app, e.name, e.definition, e.state, e.started_ms});
  if (!r.ok() && r.status().code() == Code::kConflict) return Status::Conflict("app '" + e.app + "' has an experiment '" + e.name + "'");
  return r.status();
}

Result<std::optional<ExperimentRow>> RecommendStore::GetExperiment(const std::string& app, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kExperimentColumns +
                                                   " FROM recommend_experiments WHERE app = ? AND name = ?",
                                               {app, name}));
  if (rows.empty()) return std::optional<ExperimentRow>();
  return std::optional<ExperimentRow>(ExperimentFrom(rows[0]));
}

Result<std::vector<ExperimentRow>> RecommendStore::Experiments(const std::string& app) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kExperimentColumns +
                                                   " FROM recommend_experiments WHERE app = ? ORDER BY started_ms DESC",
                                               {app}));
  std::vector<ExperimentRow> out;
  for (const auto& r : rows) out.push_back(ExperimentFrom(r));
  return out;
}

Status RecommendStore::StopExperiment(const std::string& app, const std::string& name, int64_t now_ms) {
  return db_.Exec("UPDATE recommend_experiments SET state = 'stopped', stopped_ms = ? WHERE app = ? AND name = ? AND state = 'running'",
                  {now_ms, app, name}).status();
}

Status RecommendStore::AddExposures(const std::vector<ExposureRow>& rows) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (size_t from = 0; from < rows.size(); from += kRowsPerInsert) {
      const size_t n = std::min(kRowsPerInsert, rows.size() - from);
      std::vector<Value> params;
      for (size_t k = from; k < from + n; ++k) {
        const ExposureRow& e = rows[k];
        for (Value v : {Value(e.app), Value(e.experiment), Value(e.variant), Value(e.user), Value(e.item), Value(e.ts_ms)}) {
          params.push_back(std::move(v));
        }
      }
      AIMASS_RETURN_IF_ERROR(
          tx.Exec(MultiInsert("INSERT INTO recommend_exposures (app, experiment, variant, user_id, item, ts_ms)", 6, n), params).status());
    }
    return Status::Ok();
  });
}

Status RecommendStore::ScanExposures(const std::string& app, const std::string& experiment,
                                     const std::function<Status(const ExposureRow&)>& fn) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT app, experiment, variant, user_id, item, ts_ms FROM recommend_exposures "
                                               "WHERE app = ? AND experiment = ? ORDER BY ts_ms",
                                               {app, experiment}));
  for (const auto& r : rows) AIMASS_RETURN_IF_ERROR(fn({r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Text(4), r.Int(5)}));
  return Status::Ok();
}

}  // namespace aimass::recommend
