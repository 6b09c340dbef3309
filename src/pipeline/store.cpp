#include "pipeline/store.hpp"

namespace aimass::pipeline {

using storage::Row;
using storage::Tx;
using storage::Value;

namespace {

constexpr const char* kPipelineColumns = "id, name, spec, owner, revision, created_ms, updated_ms";
constexpr const char* kRunColumns =
    "id, pipeline_id, pipeline, spec, params, state, owner, trigger, resumed_from, reason, cancel_requested, created_ms, "
    "started_ms, finished_ms";
constexpr const char* kStepColumns =
    "run_id, name, step, item_index, item, state, attempts, job_id, jobs, cached, cached_from_run, cache_key, inputs, "
    "outputs, reason, next_attempt_ms, started_ms, finished_ms";

Pipeline PipelineFrom(const Row& r) {
  return {r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4), r.Int(5), r.Int(6)};
}

PipelineRun RunFrom(const Row& r) {
  PipelineRun p;
  p.id = r.Int(0);
  p.pipeline_id = r.Int(1);
  p.pipeline = r.Text(2);
  p.spec = r.Text(3);
  p.params = r.Text(4);
  p.state = r.Text(5);
  p.owner = r.Text(6);
  p.trigger = r.Text(7);
  if (!r.IsNull(8)) p.resumed_from = r.Int(8);
  p.reason = r.Text(9);
  p.cancel_requested = r.Int(10) != 0;
  p.created_ms = r.Int(11);
  p.started_ms = r.Int(12);
  p.finished_ms = r.Int(13);
  return p;
}

StepRun StepFrom(const Row& r) {
  StepRun s;
  s.run_id = r.Int(0);
  s.name = r.Text(1);
  s.step = r.Text(2);
  s.item_index = r.Int(3);
  s.item = r.Text(4);
  s.state = r.Text(5);
  s.attempts = r.Int(6);
  if (!r.IsNull(7)) s.job_id = r.Int(7);
  s.jobs = r.Text(8);
  s.cached = r.Int(9) != 0;
  if (!r.IsNull(10)) s.cached_from_run = r.Int(10);
  s.cache_key = r.Text(11);
  s.inputs = r.Text(12);
  s.outputs = r.Text(13);
  s.reason = r.Text(14);
  s.next_attempt_ms = r.Int(15);
  s.started_ms = r.Int(16);
  s.finished_ms = r.Int(17);
  return s;
}

Value Opt(const std::optional<int64_t>& v) { return v ? Value(*v) : Value(nullptr); }

Status InsertStep(Tx& tx, const StepRun& s) {
  return tx.Exec(std::string("INSERT INTO pipeline_steps (") + kStepColumns +
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, name) DO UPDATE SET "
                     "state = excluded.state, attempts = excluded.attempts, job_id = excluded.job_id, jobs = excluded.jobs, "
                     "cached = excluded.cached, cached_from_run = excluded.cached_from_run, cache_key = excluded.cache_key, "
                     "inputs = excluded.inputs, outputs = excluded.outputs, reason = excluded.reason, "
                     "next_attempt_ms = excluded.next_attempt_ms, started_ms = excluded.started_ms, "
                     "finished_ms = excluded.finished_ms",
                 {s.run_id, s.name, s.step, s.item_index, s.item, s.state, s.attempts, Opt(s.job_id), s.jobs,
                  int64_t{s.cached}, Opt(s.cached_from_run), s.cache_key, s.inputs, s.outputs, s.reason,
                  s.next_attempt_ms, s.started_ms, s.finished_ms})
      .status();
}

}  // namespace

std::vector<storage::Migration> PipelineStore::Migrations() {
  return {{"pipeline", 1, R"(
CREATE TABLE pipelines (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  spec TEXT NOT NULL,
  owner TEXT NOT NULL,
  revision INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE pipeline_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline_id INTEGER NOT NULL,
  pipeline TEXT NOT NULL,
  spec TEXT NOT NULL,
  params TEXT NOT NULL,
  state TEXT NOT NULL,
  owner TEXT NOT NULL,
  trigger TEXT NOT NULL,
  resumed_from INTEGER,
  reason TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pipeline_runs_pipeline ON pipeline_runs (pipeline_id, id);
CREATE INDEX pipeline_runs_state ON pipeline_runs (state);
CREATE TABLE pipeline_steps (
  run_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  step TEXT NOT NULL,
  item_index INTEGER NOT NULL,
  item TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  job_id INTEGER,
  jobs TEXT NOT NULL,
  cached INTEGER NOT NULL,
  cached_from_run INTEGER,
  cache_key TEXT NOT NULL,
  inputs TEXT NOT NULL,
  outputs TEXT NOT NULL,
  reason TEXT NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  PRIMARY KEY (run_id, name)
);
CREATE TABLE pipeline_cache (
  cache_key TEXT PRIMARY KEY,
  pipeline_id INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  step TEXT NOT NULL,
  outputs TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE INDEX pipeline_cache_run ON pipeline_cache (run_id);
)"}};
}

Result<Pipeline> PipelineStore::Create(const Pipeline& p) {
  Pipeline out = p;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto existing, tx.Query("SELECT id FROM pipelines WHERE name = ?", {p.name}));
    if (!existing.empty()) return Status::Conflict("pipeline '" + p.name + "' exists");
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO pipelines (name, spec, owner, revision, created_ms, updated_ms) VALUES "
                                   "(?, ?, ?, 1, ?, ?)",
                                   {p.name, p.spec, p.owner, p.created_ms, p.updated_ms})
                               .status());
    out.id = tx.LastInsertId();
    out.revision = 1;
    return Status::Ok();
  }));
  return out;
}

Result<Pipeline> PipelineStore::Update(const std::string& name, const std::string& spec, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE pipelines SET spec = ?, revision = revision + 1, updated_ms = ? "
                                              "WHERE name = ?",
                                              {spec, now_ms, name}));
  if (n == 0) return Status::NotFound("pipeline '" + name + "' not found");
  return Get(name);
}

Result<Pipeline> PipelineStore::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kPipelineColumns + " FROM pipelines WHERE name = ?",
                                               {name}));
  if (rows.empty()) return Status::NotFound("pipeline '" + name + "' not found");
  return PipelineFrom(rows[0]);
}

Result<std::vector<Pipeline>> PipelineStore::List(int64_t limit, int64_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kPipelineColumns +
                                                   " FROM pipelines ORDER BY name LIMIT ? OFFSET ?",
                                               {limit, offset}));
  std::vector<Pipeline> out;
  for (const auto& r : rows) out.push_back(PipelineFrom(r));
  return out;
}

Status PipelineStore::Delete(int64_t id) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(
        tx.Exec("DELETE FROM pipeline_steps WHERE run_id IN (SELECT id FROM pipeline_runs WHERE pipeline_id = ?)", {id})
            .status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM pipeline_cache WHERE pipeline_id = ?", {id}).status());
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM pipeline_runs WHERE pipeline_id = ?", {id}).status());
    return tx.Exec("DELETE FROM pipelines WHERE id = ?", {id}).status();
  });
}

Result<int64_t> PipelineStore::CreateRun(const PipelineRun& r, const std::vector<StepRun>& steps) {
  int64_t id = 0;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO pipeline_runs (pipeline_id, pipeline, spec, params, state, owner, trigger, "
                                   "resumed_from, reason, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   {r.pipeline_id, r.pipeline, r.spec, r.params, r.state, r.owner, r.trigger,
                                    Opt(r.resumed_from), r.reason, r.created_ms})
                               .status());
    id = tx.LastInsertId();
    for (StepRun s : steps) {
      s.run_id = id;
      AIMASS_RETURN_IF_ERROR(InsertStep(tx, s));
    }
    return Status::Ok();
  }));
  return id;
}

Result<PipelineRun> PipelineStore::GetRun(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kRunColumns + " FROM pipeline_runs WHERE id = ?", {id}));
  if (rows.empty()) return Status::NotFound("pipeline run " + std::to_string(id) + " not found");
  return RunFrom(rows[0]);
}

Result<std::vector<PipelineRun>> PipelineStore::Runs(const std::string& pipeline, int64_t limit, int64_t offset) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kRunColumns +
                                                   " FROM pipeline_runs WHERE pipeline = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                                               {pipeline, limit, offset}));
  std::vector<PipelineRun> out;
  for (const auto& r : rows) out.push_back(RunFrom(r));
  return out;
}

Result<std::vector<PipelineRun>> PipelineStore::ActiveRuns() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kRunColumns +
                                               " FROM pipeline_runs WHERE state IN ('queued', 'running') ORDER BY id"));
  std::vector<PipelineRun> out;
  for (const auto& r : rows) out.push_back(RunFrom(r));
  return out;
}

Status PipelineStore::UpdateRun(const PipelineRun& r) {
  return db_.Exec("UPDATE pipeline_runs SET state = ?, reason = ?, started_ms = ?, finished_ms = ? WHERE id = ?",
                  {r.state, r.reason, r.started_ms, r.finished_ms, r.id})
      .status();
}

Status PipelineStore::RequestCancel(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE pipeline_runs SET cancel_requested = 1 WHERE id = ?", {id}));
  if (n == 0) return Status::NotFound("pipeline run " + std::to_string(id) + " not found");
  return Status::Ok();
}

Result<std::vector<StepRun>> PipelineStore::Steps(int64_t run_id) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kStepColumns +
                                                   " FROM pipeline_steps WHERE run_id = ? ORDER BY name",
                                               {run_id}));
  std::vector<StepRun> out;
  for (const auto& r : rows) out.push_back(StepFrom(r));
  return out;
}

Status PipelineStore::PutStep(const StepRun& s) {
  return db_.Transaction([&](Tx& tx) { return InsertStep(tx, s); });
}

Status PipelineStore::PutSteps(const std::vector<StepRun>& steps) {
  return db_.Transaction([&](Tx& tx) -> Status {
    for (const auto& s : steps) AIMASS_RETURN_IF_ERROR(InsertStep(tx, s));
    return Status::Ok();
  });
}

Result<std::optional<CacheEntry>> PipelineStore::CacheLookup(const std::string& key) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT run_id, step, outputs FROM pipeline_cache WHERE cache_key = ?", {key}));
  if (rows.empty()) return std::optional<CacheEntry>();
  return std::optional<CacheEntry>(CacheEntry{rows[0].Int(0), rows[0].Text(1), rows[0].Text(2)});
}

Status PipelineStore::CachePut(const std::string& key, const CacheEntry& e, int64_t now_ms) {
  return db_.Exec("INSERT INTO pipeline_cache (cache_key, pipeline_id, run_id, step, outputs, created_ms) "
                  "SELECT ?, pipeline_id, id, ?, ?, ? FROM pipeline_runs WHERE id = ? ON CONFLICT (cache_key) DO NOTHING",
                  {key, e.step, e.outputs, now_ms, e.run_id})
      .status();
}

}  // namespace aimass::pipeline
