#include "tracking/store.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

namespace aimass::tracking {

using storage::Row;
using storage::Tx;
using storage::Value;

namespace {

constexpr const char* kRunColumns =
    "r.id, r.experiment_id, e.name, r.name, r.status, r.owner, r.description, r.start_time, r.end_time";

Run RunFrom(const Row& row) {
  Run r;
  r.id = row.Int(0);
  r.experiment_id = row.Int(1);
  r.experiment = row.Text(2);
  r.name = row.Text(3);
  r.status = row.Text(4);
  r.owner = row.Text(5);
  r.description = row.Text(6);
  r.start_ms = row.Int(7);
  r.end_ms = row.Int(8);
  return r;
}

Experiment ExperimentFrom(const Row& row) {
  Experiment e;
  e.id = row.Int(0);
  e.name = row.Text(1);
  e.description = row.Text(2);
  e.owner = row.Text(3);
  e.created_ms = row.Int(4);
  e.updated_ms = row.Int(5);
  e.run_count = row.Int(6);
  return e;
}

constexpr const char* kExperimentSelect =
    "SELECT x.id, x.name, x.description, x.owner, x.created_ms, x.updated_ms, "
    "(SELECT COUNT(*) FROM tracking_runs r WHERE r.experiment_id = x.id) FROM tracking_experiments x ";

// "?, ?, ?" for n values.
std::string Placeholders(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

// The tables holding a run's rows, children first.
constexpr const char* kRunTables[] = {"tracking_metric_chunks", "tracking_latest_metrics", "tracking_params",
                                      "tracking_tags",          "tracking_run_links",      "tracking_artifacts",
                                      "tracking_artifact_pending"};

}  // namespace

std::vector<storage::Migration> TrackingStore::Migrations() {
  return {{"tracking", 1, R"(
CREATE TABLE tracking_experiments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  owner TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE tracking_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  experiment_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  owner TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  start_time INTEGER NOT NULL,
  end_time INTEGER
);
CREATE INDEX tracking_runs_experiment ON tracking_runs (experiment_id, start_time);
CREATE INDEX tracking_runs_start ON tracking_runs (start_time);
CREATE TABLE tracking_params (
  run_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX tracking_params_value ON tracking_params (key, value, run_id);
CREATE TABLE tracking_tags (
  run_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX tracking_tags_value ON tracking_tags (key, value, run_id);
CREATE TABLE tracking_latest_metrics (
  run_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value REAL NOT NULL,
  step INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  min_value REAL NOT NULL,
  max_value REAL NOT NULL,
  count INTEGER NOT NULL,
  chunks INTEGER NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX tracking_latest_metrics_value ON tracking_latest_metrics (key, value, run_id);
CREATE TABLE tracking_metric_chunks (
  run_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  count INTEGER NOT NULL,
  points TEXT NOT NULL,
  PRIMARY KEY (run_id, key, seq)
);
CREATE TABLE tracking_run_links (
  run_id INTEGER NOT NULL,
  direction TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (run_id, direction, kind, name, version)
) WITHOUT ROWID;
CREATE INDEX tracking_run_links_name ON tracking_run_links (kind, name, run_id);
CREATE TABLE tracking_artifacts (
  run_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
CREATE INDEX tracking_artifacts_digest ON tracking_artifacts (digest);
CREATE TABLE tracking_artifact_pending (
  run_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (run_id, path, digest)
) WITHOUT ROWID;
CREATE INDEX tracking_artifact_pending_digest ON tracking_artifact_pending (digest);
)"}};
}

Result<Experiment> TrackingStore::CreateExperiment(const Experiment& e) {
  Experiment out = e;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto existing, tx.Query("SELECT id FROM tracking_experiments WHERE name = ?", {e.name}));
    if (!existing.empty()) return Status::Conflict("experiment '" + e.name + "' exists");
    AIMASS_RETURN_IF_ERROR(tx.Exec(
        "INSERT INTO tracking_experiments (name, description, owner, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)",
        {e.name, e.description, e.owner, e.created_ms, e.updated_ms}).status());
    out.id = tx.LastInsertId();
    return Status::Ok();
  }));
  return out;
}

Result<Experiment> TrackingStore::GetExperiment(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string(kExperimentSelect) + "WHERE x.name = ?", {name}));
  if (rows.empty()) return Status::NotFound("experiment '" + name + "' not found");
  return ExperimentFrom(rows[0]);
}

Result<int64_t> TrackingStore::ExperimentId(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id FROM tracking_experiments WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("experiment '" + name + "' not found");
  return rows[0].Int(0);
}

Result<std::vector<Experiment>> TrackingStore::ListExperiments(int64_t limit, int64_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string(kExperimentSelect) + "ORDER BY x.name LIMIT ? OFFSET ?",
                                               {limit, offset}));
  std::vector<Experiment> out;
  for (const auto& r : rows) out.push_back(ExperimentFrom(r));
  return out;
}

Status TrackingStore::UpdateExperiment(int64_t id, const std::string& description, int64_t now_ms) {
  return db_.Exec("UPDATE tracking_experiments SET description = ?, updated_ms = ? WHERE id = ?", {description, now_ms, id})
      .status();
}

Status TrackingStore::DeleteExperiment(int64_t id) {
  return db_.Transaction([&](Tx& tx) -> Status {
    for (const char* table : kRunTables) {
      AIMASS_RETURN_IF_ERROR(tx.Exec(std::string("DELETE FROM ") + table +
                                         " WHERE run_id IN (SELECT id FROM tracking_runs WHERE experiment_id = ?)",
                                     {id})
                                 .status());
    }
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM tracking_runs WHERE experiment_id = ?", {id}).status());
    return tx.Exec("DELETE FROM tracking_experiments WHERE id = ?", {id}).status();
  });
}

Result<int64_t> TrackingStore::CreateRun(const Run& r) {
  int64_t id = 0;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    Value end = r.end_ms ? Value(r.end_ms) : Value(nullptr);
    AIMASS_RETURN_IF_ERROR(tx.Exec(
        "INSERT INTO tracking_runs (experiment_id, name, status, owner, description, start_time, end_time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        {r.experiment_id, r.name, r.status, r.owner, r.description, r.start_ms, end}).status());
    id = tx.LastInsertId();
    if (r.name.empty()) {
      AIMASS_RETURN_IF_ERROR(
          tx.Exec("UPDATE tracking_runs SET name = ? WHERE id = ?", {"run-" + std::to_string(id), id}).status());
    }
    for (const auto& [k, v] : r.params) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO tracking_params (run_id, key, value) VALUES (?, ?, ?)", {id, k, v}).status());
    }
    for (const auto& [k, v] : r.tags) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO tracking_tags (run_id, key, value) VALUES (?, ?, ?)", {id, k, v}).status());
    }
    return Status::Ok();
  }));
  return id;
}

Status TrackingStore::FillDetails(std::vector<Run>& runs, bool links) {
  if (runs.empty()) return Status::Ok();
  std::unordered_map<int64_t, Run*> by_id;
  std::vector<Value> ids;
  for (auto& r : runs) {
    by_id[r.id] = &r;
    ids.emplace_back(r.id);
  }
  const std::string in = " WHERE run_id IN (" + Placeholders(ids.size()) + ")";
  AIMASS_ASSIGN_OR_RETURN(auto params, db_.Query("SELECT run_id, key, value FROM tracking_params" + in, ids));
  for (const auto& row : params) by_id[row.Int(0)]->params[row.Text(1)] = row.Text(2);
  AIMASS_ASSIGN_OR_RETURN(auto tags, db_.Query("SELECT run_id, key, value FROM tracking_tags" + in, ids));
  for (const auto& row : tags) by_id[row.Int(0)]->tags[row.Text(1)] = row.Text(2);
  AIMASS_ASSIGN_OR_RETURN(
      auto metrics,
      db_.Query("SELECT run_id, key, value, step, timestamp, min_value, max_value, count FROM tracking_latest_metrics" + in, ids));
  for (const auto& row : metrics) {
    by_id[row.Int(0)]->metrics[row.Text(1)] =
        LatestMetric{row.Double(2), row.Int(3), row.Int(4), row.Double(5), row.Double(6), row.Int(7)};
  }
  if (links) {
    AIMASS_ASSIGN_OR_RETURN(
        auto rows, db_.Query("SELECT run_id, direction, kind, name, version FROM tracking_run_links" + in +
                                 " ORDER BY run_id, direction, kind, name, version",
                             ids));
    for (const auto& row : rows) {
      by_id[row.Int(0)]->links.push_back(RunLink{row.Text(1), row.Text(2), row.Text(3), row.Int(4)});
    }
    AIMASS_ASSIGN_OR_RETURN(auto counts,
                            db_.Query("SELECT run_id, COUNT(*) FROM tracking_artifacts" + in + " GROUP BY run_id", ids));
    for (const auto& row : counts) by_id[row.Int(0)]->artifact_count = row.Int(1);
  }
  return Status::Ok();
}

Result<Run> TrackingStore::GetRun(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(
      auto rows, db_.Query(std::string("SELECT ") + kRunColumns +
                               " FROM tracking_runs r JOIN tracking_experiments e ON e.id = r.experiment_id WHERE r.id = ?",
                           {id}));
  if (rows.empty()) return Status::NotFound("run " + std::to_string(id) + " not found");
  std::vector<Run> runs{RunFrom(rows[0])};
  AIMASS_RETURN_IF_ERROR(FillDetails(runs, true));
  return std::move(runs[0]);
}

// How a search is run. Each term of a filter can be evaluated two ways (run_search.hpp): by
// gathering the runs it selects from its index (drive), or by looking it up for each run
// (probe). Gathering a term that selects half of 200,000 runs costs tens of milliseconds,
// probing a few thousand runs a few, so:
//  1. a filter with an OR at the top is run as written, every term gathered;
//  2. else a term that selects fewer than selective_runs_ runs (a count bounded by that)
//     drives, the others are probed;
//  3. else, when the order has an index (start time; a metric's or param's (key, value,
//     run_id)), the first search_window_ runs in that order are probed: if a page's worth
//     match, that is the page, and no run further on can come before them; if some match, a
//     window as wide as they say the page needs (up to twice as wide) is tried once more;
//  4. else the term with the fewest runs (counted whole now) drives, the others are probed;
//     with no term that can drive, every run is probed.
Result<std::vector<Run>> TrackingStore::SearchRuns(const RunQuery& q, int64_t limit, int64_t offset) {
  const std::string columns = std::string("SELECT ") + kRunColumns;
  const std::string from = columns + " FROM tracking_runs r JOIN tracking_experiments e ON e.id = r.experiment_id";
  std::string where;
  std::vector<Value> where_params;
  auto add = [&](const std::string& sql, const std::vector<Value>& params) {
    where += where.empty() ? sql : " AND " + sql;
    where_params.insert(where_params.end(), params.begin(), params.end());
  };
  auto fetch = [&](const std::string& sql, std::vector<Value> params) -> Result<std::vector<Run>> {
    AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(sql, params));
    std::vector<Run> runs;
    runs.reserve(rows.size());
    for (const auto& row : rows) runs.push_back(RunFrom(row));
    return runs;
  };
  // The filter as `where`, sorted through the ordering's LEFT JOIN.
  auto plain = [&]() -> Result<std::vector<Run>> {
    std::vector<Value> params = q.order.params;
    params.insert(params.end(), where_params.begin(), where_params.end());
    params.emplace_back(limit);
    params.emplace_back(offset);
    return fetch(from + q.order.join + " WHERE " + (where.empty() ? "1=1" : where) + " ORDER BY " + q.order.order +
                     " LIMIT ? OFFSET ?",
                 std::move(params));
  };
  auto finish = [&](std::vector<Run> runs) -> Result<std::vector<Run>> {
    AIMASS_RETURN_IF_ERROR(FillDetails(runs, false));
    return runs;
  };
  const std::string experiments = "r.experiment_id IN (" + Placeholders(q.experiment_ids.size()) + ")";
  const std::vector<Value> experiment_params(q.experiment_ids.begin(), q.experiment_ids.end());

  if (!q.drive.conjunctive) {  // 1
    if (!q.experiment_ids.empty()) add(experiments, experiment_params);
    add(q.drive.where, q.drive.params);
    AIMASS_ASSIGN_OR_RETURN(auto runs, plain());
    return finish(std::move(runs));
  }
  // How many runs each term that can drive selects, counting up to `cap`.
  auto count = [&](size_t i, int64_t cap) -> Result<int64_t> {
    AIMASS_ASSIGN_OR_RETURN(auto n, db_.Query("SELECT COUNT(*) FROM (" + *DriverIds(q.drive.conjuncts[i]) + " LIMIT " +
                                                  std::to_string(cap) + ") x",
                                              q.drive.conjuncts[i].params));
    return n[0].Int(0);
  };
  std::vector<size_t> drivable;
  for (size_t i = 0; i < q.drive.conjuncts.size(); ++i) {
    if (DriverIds(q.drive.conjuncts[i])) drivable.push_back(i);
  }
  auto plan = [&](std::optional<size_t> driver) {
    where.clear();
    where_params.clear();
    if (!q.experiment_ids.empty()) add(experiments, experiment_params);
    for (size_t i = 0; i < q.probe.conjuncts.size(); ++i) {
      const auto& c = driver == i ? q.drive.conjuncts[i] : q.probe.conjuncts[i];
      add(c.sql, c.params);
    }
  };
  std::optional<size_t> driver;
  int64_t fewest = selective_runs_;
  for (size_t i : drivable) {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, count(i, selective_runs_));
    if (n < fewest) {
      fewest = n;
      driver = i;
    }
  }
  if (driver) {  // 2
    plan(driver);
    AIMASS_ASSIGN_OR_RETURN(auto runs, plain());
    return finish(std::move(runs));
  }

  // 3: the first runs in the order's own index, probed. What a first window finds estimates
  // how far the page is; a second, wider one is walked when that is not far.
  const std::string dir = q.order.ascending ? "ASC" : "DESC";
  std::string walk;  // with a `?` for the window's size, then the filter's, LIMIT and OFFSET
  std::vector<Value> walk_params;
  if (!q.order.table.empty()) {
    plan(std::nullopt);
    walk = columns + " FROM (SELECT run_id, value FROM " + q.order.table + " WHERE key = ? ORDER BY value " + dir +
           ", run_id " + dir + " LIMIT ?) w CROSS JOIN tracking_runs r JOIN tracking_experiments e ON "
           "e.id = r.experiment_id WHERE r.id = w.run_id" + (where.empty() ? "" : " AND " + where) +
           " ORDER BY w.value " + dir + ", w.run_id " + dir + " LIMIT ? OFFSET ?";
    walk_params = {q.order.key};
  } else if (q.order.order.starts_with("r.start_time ")) {
    // One experiment walks its own (experiment_id, start_time) index; several are probed.
    bool one = q.experiment_ids.size() == 1;
    where.clear();
    where_params.clear();
    if (q.experiment_ids.size() > 1) add(experiments, experiment_params);
    for (const auto& c : q.probe.conjuncts) add(c.sql, c.params);
    walk = columns + " FROM (SELECT id, start_time FROM tracking_runs" + (one ? " WHERE experiment_id = ?" : "") +
           " ORDER BY start_time " + dir + ", id " + dir + " LIMIT ?) w CROSS JOIN tracking_runs r JOIN "
           "tracking_experiments e ON e.id = r.experiment_id WHERE r.id = w.id" + (where.empty() ? "" : " AND " + where) +
           " ORDER BY w.start_time " + dir + ", w.id " + dir + " LIMIT ? OFFSET ?";
    if (one) walk_params.emplace_back(q.experiment_ids[0]);
  }
  if (!walk.empty()) {
    auto walk_window = [&](int64_t window) -> Result<std::vector<Run>> {
      std::vector<Value> params = walk_params;
      params.emplace_back(window);
      params.insert(params.end(), where_params.begin(), where_params.end());
      params.emplace_back(limit);
      params.emplace_back(offset);
      return fetch(walk, std::move(params));
    };
    const int64_t window = std::max(search_window_, 10 * (offset + limit));
    AIMASS_ASSIGN_OR_RETURN(auto runs, walk_window(window));
    if (static_cast<int64_t>(runs.size()) == limit) return finish(std::move(runs));
    if (!runs.empty()) {
      // `offset + found` of the window's runs matched: the page needs about this many.
      int64_t found = offset + static_cast<int64_t>(runs.size());
      int64_t needed = (offset + limit) * window / found * 3 / 2;
      if (needed <= 2 * window) {
        AIMASS_ASSIGN_OR_RETURN(runs, walk_window(needed));
        if (static_cast<int64_t>(runs.size()) == limit) return finish(std::move(runs));
      }
    }
  }

  // 4: the narrowest term drives, however broad. Counts stop at a cap that grows fourfold
  // until some term falls under it, so a term of 150,000 runs is not counted whole to learn
  // that one of 20,000 is narrower.
  for (int64_t cap = 4 * selective_runs_; !driver && !drivable.empty(); cap *= 4) {
    fewest = cap;
    for (size_t i : drivable) {
      AIMASS_ASSIGN_OR_RETURN(int64_t n, count(i, fewest));
      if (n < fewest) {
        fewest = n;
        driver = i;
      }
    }
  }
  plan(driver);
  AIMASS_ASSIGN_OR_RETURN(auto runs, plain());
  return finish(std::move(runs));
}

Result<std::vector<Run>> TrackingStore::RunsById(const std::vector<int64_t>& ids) {
  if (ids.empty()) return std::vector<Run>{};
  std::vector<Value> params(ids.begin(), ids.end());
  AIMASS_ASSIGN_OR_RETURN(
      auto rows, db_.Query(std::string("SELECT ") + kRunColumns +
                               " FROM tracking_runs r JOIN tracking_experiments e ON e.id = r.experiment_id WHERE r.id IN (" +
                               Placeholders(ids.size()) + ")",
                           params));
  std::unordered_map<int64_t, Run> found;
  for (const auto& row : rows) {
    Run r = RunFrom(row);
    found.emplace(r.id, std::move(r));
  }
  std::vector<Run> out;
  for (int64_t id : ids) {
    auto it = found.find(id);
    if (it != found.end()) out.push_back(it->second);
  }
  AIMASS_RETURN_IF_ERROR(FillDetails(out, false));
  return out;
}

Status TrackingStore::UpdateRun(int64_t id, const std::optional<std::string>& name, const std::optional<std::string>& status,
                                const std::optional<std::string>& description, int64_t now_ms) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT status FROM tracking_runs WHERE id = ?", {id}));
    if (rows.empty()) return Status::NotFound("run " + std::to_string(id) + " not found");
    if (name) AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE tracking_runs SET name = ? WHERE id = ?", {*name, id}).status());
    if (description) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE tracking_runs SET description = ? WHERE id = ?", {*description, id}).status());
    }
    if (status && *status != rows[0].Text(0)) {
      Value end = TerminalStatus(*status) ? Value(now_ms) : Value(nullptr);
      AIMASS_RETURN_IF_ERROR(
          tx.Exec("UPDATE tracking_runs SET status = ?, end_time = ? WHERE id = ?", {*status, end, id}).status());
    }
    return Status::Ok();
  });
}

Status TrackingStore::DeleteRun(int64_t id) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM tracking_runs WHERE id = ?", {id}));
    if (n == 0) return Status::NotFound("run " + std::to_string(id) + " not found");
    for (const char* table : kRunTables) {
      AIMASS_RETURN_IF_ERROR(tx.Exec(std::string("DELETE FROM ") + table + " WHERE run_id = ?", {id}).status());
    }
    return Status::Ok();
  });
}

Status TrackingStore::Log(int64_t run_id, const LogBatch& batch) {
  // Points grouped by key, keys in the order they first appear.
  std::vector<std::string> keys;
  std::unordered_map<std::string, std::vector<ChunkPoint>> points;
  for (const auto& m : batch.metrics) {
    auto [it, added] = points.try_emplace(m.key);
    if (added) keys.push_back(m.key);
    it->second.push_back(ChunkPoint{m.step, m.timestamp_ms, m.value});
  }
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto run, tx.Query("SELECT id FROM tracking_runs WHERE id = ?", {run_id}));
    if (run.empty()) return Status::NotFound("run " + std::to_string(run_id) + " not found");
    if (!batch.params.empty()) {
      AIMASS_ASSIGN_OR_RETURN(auto existing, tx.Query("SELECT key, value FROM tracking_params WHERE run_id = ?", {run_id}));
      std::map<std::string, std::string> have;
      for (const auto& row : existing) have[row.Text(0)] = row.Text(1);
      for (const auto& [k, v] : batch.params) {
        auto it = have.find(k);
        if (it != have.end()) {
          if (it->second != v) {
            return Status::Conflict("param '" + k + "' was logged as '" + it->second.substr(0, 64) +
                                    "'; params cannot change (log a tag or a metric instead)");
          }
          continue;
        }
        have.emplace(k, v);
        AIMASS_RETURN_IF_ERROR(
            tx.Exec("INSERT INTO tracking_params (run_id, key, value) VALUES (?, ?, ?)", {run_id, k, v}).status());
      }
    }
    for (const auto& [k, v] : batch.tags) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO tracking_tags (run_id, key, value) VALUES (?, ?, ?) "
                                     "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                                     {run_id, k, v})
                                 .status());
    }
    if (!keys.empty()) {
      std::vector<Value> params{run_id};
      for (const auto& k : keys) params.emplace_back(k);
      AIMASS_ASSIGN_OR_RETURN(
          auto rows, tx.Query("SELECT key, value, step, timestamp, min_value, max_value, count, chunks FROM "
                              "tracking_latest_metrics WHERE run_id = ? AND key IN (" + Placeholders(keys.size()) + ")",
                              params));
      std::unordered_map<std::string, std::pair<LatestMetric, int64_t>> latest;
      for (const auto& row : rows) {
        latest[row.Text(0)] = {LatestMetric{row.Double(1), row.Int(2), row.Int(3), row.Double(4), row.Double(5), row.Int(6)},
                               row.Int(7)};
      }
      for (const auto& key : keys) {
        auto& [summary, chunks] = latest[key];
        std::string text;
        const auto& ps = points[key];
        text.reserve(ps.size() * 40);
        for (const auto& p : ps) {
          AppendChunkPoint(text, p);
          Accumulate(summary, p);
        }
        ++chunks;
        AIMASS_RETURN_IF_ERROR(
            tx.Exec("INSERT INTO tracking_metric_chunks (run_id, key, seq, count, points) VALUES (?, ?, ?, ?, ?)",
                    {run_id, key, chunks, static_cast<int64_t>(ps.size()), std::move(text)})
                .status());
        AIMASS_RETURN_IF_ERROR(tx.Exec(
            "INSERT INTO tracking_latest_metrics (run_id, key, value, step, timestamp, min_value, max_value, count, chunks) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, "
            "step = excluded.step, timestamp = excluded.timestamp, min_value = excluded.min_value, "
            "max_value = excluded.max_value, count = excluded.count, chunks = excluded.chunks",
            {run_id, key, summary.value, summary.step, summary.timestamp_ms, summary.min, summary.max, summary.count, chunks})
                                   .status());
      }
    }
    for (const auto& l : batch.links) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT OR IGNORE INTO tracking_run_links (run_id, direction, kind, name, version) "
                                     "VALUES (?, ?, ?, ?, ?)",
                                     {run_id, l.direction, l.kind, l.name, l.version})
                                 .status());
    }
    return Status::Ok();
  });
}

Status TrackingStore::DeleteTag(int64_t run_id, const std::string& key) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM tracking_tags WHERE run_id = ? AND key = ?", {run_id, key}));
  if (n == 0) return Status::NotFound("run " + std::to_string(run_id) + " has no tag '" + key + "'");
  return Status::Ok();
}

Result<std::vector<ChunkPoint>> TrackingStore::MetricHistory(int64_t run_id, const std::string& key, int64_t offset,
                                                             int64_t limit) {
  // Counts first, so that the chunks before the page are skipped without being read.
  AIMASS_ASSIGN_OR_RETURN(auto counts, db_.Query("SELECT seq, count FROM tracking_metric_chunks WHERE run_id = ? AND "
                                                 "key = ? ORDER BY seq",
                                                 {run_id, key}));
  if (counts.empty()) {
    AIMASS_ASSIGN_OR_RETURN(auto run, db_.Query("SELECT id FROM tracking_runs WHERE id = ?", {run_id}));
    if (run.empty()) return Status::NotFound("run " + std::to_string(run_id) + " not found");
    return Status::NotFound("run " + std::to_string(run_id) + " has no metric '" + key + "'");
  }
  int64_t first_seq = -1, last_seq = -1, skip = offset, seen = 0;
  for (const auto& row : counts) {
    int64_t n = row.Int(1);
    if (seen + n > offset && first_seq < 0) {
      first_seq = row.Int(0);
      skip = offset - seen;
    }
    seen += n;
    if (first_seq >= 0) {
      last_seq = row.Int(0);
      if (seen >= offset + limit) break;
    }
  }
  std::vector<ChunkPoint> out;
  if (first_seq < 0) return out;
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT points FROM tracking_metric_chunks WHERE run_id = ? AND key = ? "
                                               "AND seq >= ? AND seq <= ? ORDER BY seq",
                                               {run_id, key, first_seq, last_seq}));
  for (const auto& row : rows) {
    AIMASS_ASSIGN_OR_RETURN(auto points, DecodeChunk(row.Text(0)));
    size_t from = static_cast<size_t>(std::min<int64_t>(skip, static_cast<int64_t>(points.size())));
    skip = 0;
    for (size_t i = from; i < points.size() && static_cast<int64_t>(out.size()) < limit; ++i) out.push_back(points[i]);
  }
  return out;
}

Status TrackingStore::AddPendingArtifact(const PendingArtifact& a) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto run, tx.Query("SELECT id FROM tracking_runs WHERE id = ?", {a.run_id}));
    if (run.empty()) return Status::NotFound("run " + std::to_string(a.run_id) + " not found");
    return tx.Exec("INSERT OR IGNORE INTO tracking_artifact_pending (run_id, path, digest, size) VALUES (?, ?, ?, ?)",
                   {a.run_id, a.path, a.digest, static_cast<int64_t>(a.size)})
        .status();
  });
}

Status TrackingStore::CompleteArtifact(const PendingArtifact& a, int64_t now_ms) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM tracking_artifact_pending WHERE run_id = ? AND path = ? AND digest = ?",
                                               {a.run_id, a.path, a.digest}));
    // Gone: the run was deleted meanwhile; the blob is left to GC.
    if (n == 0) return Status::NotFound("run " + std::to_string(a.run_id) + " was deleted");
    return tx.Exec("INSERT INTO tracking_artifacts (run_id, path, digest, size, created_ms) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (run_id, path) DO UPDATE SET digest = excluded.digest, size = excluded.size, "
                   "created_ms = excluded.created_ms",
                   {a.run_id, a.path, a.digest, static_cast<int64_t>(a.size), now_ms})
        .status();
  });
}

Status TrackingStore::DropPendingArtifact(const PendingArtifact& a) {
  return db_.Exec("DELETE FROM tracking_artifact_pending WHERE run_id = ? AND path = ? AND digest = ?",
                  {a.run_id, a.path, a.digest})
      .status();
}

Result<std::vector<PendingArtifact>> TrackingStore::PendingArtifacts() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT run_id, path, digest, size FROM tracking_artifact_pending"));
  std::vector<PendingArtifact> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), static_cast<uint64_t>(r.Int(3))});
  return out;
}

Result<std::vector<Artifact>> TrackingStore::Artifacts(int64_t run_id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT path, digest, size, created_ms FROM tracking_artifacts WHERE run_id = ? "
                                               "ORDER BY path",
                                               {run_id}));
  std::vector<Artifact> out;
  for (const auto& r : rows) out.push_back({r.Text(0), r.Text(1), static_cast<uint64_t>(r.Int(2)), r.Int(3)});
  return out;
}

Result<Artifact> TrackingStore::GetArtifact(int64_t run_id, const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT path, digest, size, created_ms FROM tracking_artifacts WHERE run_id = ? "
                                               "AND path = ?",
                                               {run_id, path}));
  if (rows.empty()) return Status::NotFound("run " + std::to_string(run_id) + " has no artifact '" + path + "'");
  const Row& r = rows[0];
  return Artifact{r.Text(0), r.Text(1), static_cast<uint64_t>(r.Int(2)), r.Int(3)};
}

Status TrackingStore::DeleteArtifact(int64_t run_id, const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM tracking_artifacts WHERE run_id = ? AND path = ?", {run_id, path}));
  if (n == 0) return Status::NotFound("run " + std::to_string(run_id) + " has no artifact '" + path + "'");
  return Status::Ok();
}

Result<bool> TrackingStore::BlobReferenced(const std::string& digest) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT 1 FROM tracking_artifacts WHERE digest = ? UNION ALL "
                                               "SELECT 1 FROM tracking_artifact_pending WHERE digest = ? LIMIT 1",
                                               {digest, digest}));
  return !rows.empty();
}

}  // namespace aimass::tracking
