#include "scheduler/store.hpp"

namespace aimass::scheduler {

using storage::Row;
using storage::Rows;
using storage::Tx;
using storage::Value;

namespace {

constexpr const char* kJobColumns = "name, spec, owner, paused, next_run_ms, created_ms, updated_ms";
constexpr const char* kRunColumns =
    "id, job, scheduled_ms, trigger, status, attempts, started_ms, finished_ms, output, error, node, fence";
constexpr const char* kLease = "cron";

Result<Job> JobFrom(const Row& r) {
  Job j;
  nlohmann::json spec = nlohmann::json::parse(r.Text(1), nullptr, false);
  auto parsed = ParseJobSpec(spec);
  if (!parsed.ok()) return Status::Internal("stored job '" + r.Text(0) + "' no longer parses: " + parsed.status().message());
  j.spec = std::move(*parsed);
  j.owner = r.Text(2);
  j.paused = r.Int(3) != 0;
  j.next_run_ms = r.Int(4);
  j.created_ms = r.Int(5);
  j.updated_ms = r.Int(6);
  return j;
}

Run RunFrom(const Row& r) {
  Run x;
  x.id = r.Int(0);
  x.job = r.Text(1);
  x.scheduled_ms = r.Int(2);
  x.trigger = r.Text(3);
  x.status = r.Text(4);
  x.attempts = r.Int(5);
  x.started_ms = r.Int(6);
  x.finished_ms = r.Int(7);
  x.output = r.Text(8);
  x.error = r.Text(9);
  x.node = r.Text(10);
  x.fence = r.Int(11);
  return x;
}

Result<std::vector<Job>> JobsFrom(const Rows& rows) {
  std::vector<Job> out;
  for (const auto& r : rows) {
    AIMASS_ASSIGN_OR_RETURN(Job j, JobFrom(r));
    out.push_back(std::move(j));
  }
  return out;
}

// True when the lease row still names `node` with token `fence`.
Result<bool> HoldsLease(Tx& tx, const std::string& node, int64_t fence) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT holder, token FROM scheduler_lease WHERE name = ?", {kLease}));
  return !rows.empty() && rows[0].Text(0) == node && rows[0].Int(1) == fence;
}

Status InsertRunTx(Tx& tx, Run& run) {
  AIMASS_RETURN_IF_ERROR(tx.Exec(
                             "INSERT INTO cron_runs (job, scheduled_ms, trigger, status, attempts, started_ms, finished_ms, "
                             "output, error, node, fence) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             {run.job, run.scheduled_ms, run.trigger, run.status, run.attempts, run.started_ms,
                              run.finished_ms, run.output, run.error, run.node, run.fence})
                             .status());
  run.id = tx.LastInsertId();
  return Status::Ok();
}

}  // namespace

std::vector<storage::Migration> SchedulerStore::Migrations() {
  return {{"scheduler", 1, R"(
CREATE TABLE cron_jobs (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  owner TEXT NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  next_run_ms INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE cron_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  scheduled_ms INTEGER NOT NULL,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  output TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  node TEXT NOT NULL DEFAULT '',
  fence INTEGER NOT NULL DEFAULT 0
);
-- One scheduled time of a job is claimed once, whoever tries: the last line of defence
-- behind the lease.
CREATE UNIQUE INDEX cron_runs_once ON cron_runs (job, scheduled_ms) WHERE trigger = 'schedule';
CREATE INDEX cron_runs_by_job ON cron_runs (job, id);
CREATE INDEX cron_runs_by_status ON cron_runs (status);
CREATE TABLE scheduler_lease (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  token INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
);
)"}};
}

Status SchedulerStore::InsertJob(const Job& job) {
  auto res = db_.Exec(std::string("INSERT INTO cron_jobs (") + kJobColumns + ") VALUES (?,?,?,?,?,?,?)",
                      {job.spec.name, ToJson(job.spec).dump(), job.owner, int64_t{job.paused}, job.next_run_ms,
                       job.created_ms, job.updated_ms});
  if (!res.ok() && res.status().code() == Code::kConflict) return Status::Conflict("job '" + job.spec.name + "' exists");
  return res.status();
}

Status SchedulerStore::UpdateJob(const Job& job) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE cron_jobs SET spec = ?, owner = ?, paused = ?, next_run_ms = ?, "
                                               "updated_ms = ? WHERE name = ?",
                                               {ToJson(job.spec).dump(), job.owner, int64_t{job.paused},
                                                job.next_run_ms, job.updated_ms, job.spec.name}));
  if (n == 0) return Status::NotFound("no job '" + job.spec.name + "'");
  return Status::Ok();
}

Result<Job> SchedulerStore::GetJob(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kJobColumns + " FROM cron_jobs WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no job '" + name + "'");
  return JobFrom(rows[0]);
}

Result<std::vector<Job>> SchedulerStore::ListJobs() {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kJobColumns + " FROM cron_jobs ORDER BY name"));
  return JobsFrom(rows);
}

Status SchedulerStore::DeleteJob(const std::string& name) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM cron_jobs WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("no job '" + name + "'");
    return tx.Exec("DELETE FROM cron_runs WHERE job = ?", {name}).status();
  });
}

Result<std::vector<Job>> SchedulerStore::DueJobs(int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kJobColumns +
                                                   " FROM cron_jobs WHERE paused = 0 AND next_run_ms > 0 AND "
                                                   "next_run_ms <= ? ORDER BY next_run_ms",
                                               {now_ms}));
  return JobsFrom(rows);
}

Result<std::optional<int64_t>> SchedulerStore::EarliestNextRun() {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query("SELECT MIN(next_run_ms) FROM cron_jobs WHERE paused = 0 AND next_run_ms > 0"));
  if (rows.empty() || rows[0].IsNull(0)) return std::optional<int64_t>();
  return std::optional<int64_t>(rows[0].Int(0));
}

Result<std::optional<int64_t>> SchedulerStore::AcquireLease(const std::string& node, int64_t now_ms, int64_t ttl_ms) {
  std::optional<int64_t> token;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT holder, token, expires_ms FROM scheduler_lease WHERE name = ?", {kLease}));
    if (rows.empty()) {
      token = 1;
      return tx.Exec("INSERT INTO scheduler_lease (name, holder, token, expires_ms) VALUES (?,?,1,?)",
                     {kLease, node, now_ms + ttl_ms})
          .status();
    }
    const std::string holder = rows[0].Text(0);
    int64_t current = rows[0].Int(1);
    if (holder == node) {
      token = current;
      return tx.Exec("UPDATE scheduler_lease SET expires_ms = ? WHERE name = ?", {now_ms + ttl_ms, kLease}).status();
    }
    if (rows[0].Int(2) < now_ms) {
      token = current + 1;
      return tx.Exec("UPDATE scheduler_lease SET holder = ?, token = ?, expires_ms = ? WHERE name = ?",
                     {node, *token, now_ms + ttl_ms, kLease})
          .status();
    }
    return Status::Ok();
  }));
  return token;
}

Status SchedulerStore::ReleaseLease(const std::string& node) {
  return db_.Exec("UPDATE scheduler_lease SET expires_ms = 0 WHERE name = ? AND holder = ?", {kLease, node}).status();
}

Status SchedulerStore::Claim(const std::string& node, int64_t fence, const std::string& name, int64_t expected_next_ms,
                             int64_t new_next_ms, std::vector<Run>& runs) {
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(bool leader, HoldsLease(tx, node, fence));
    if (!leader) return Status::Conflict("the scheduler lease was lost");
    AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT next_run_ms, paused FROM cron_jobs WHERE name = ?", {name}));
    if (rows.empty() || rows[0].Int(0) != expected_next_ms || rows[0].Int(1) != 0) {
      return Status::Conflict("job '" + name + "' changed meanwhile");
    }
    for (auto& run : runs) AIMASS_RETURN_IF_ERROR(InsertRunTx(tx, run));
    return tx.Exec("UPDATE cron_jobs SET next_run_ms = ? WHERE name = ?", {new_next_ms, name}).status();
  });
}

Result<Run> SchedulerStore::InsertRun(Run run) {
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) { return InsertRunTx(tx, run); }));
  return run;
}

Result<std::vector<Run>> SchedulerStore::QueuedRuns() {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kRunColumns +
                                               " FROM cron_runs WHERE status = 'queued' ORDER BY id"));
  std::vector<Run> out;
  for (const auto& r : rows) out.push_back(RunFrom(r));
  return out;
}

Result<bool> SchedulerStore::StartQueued(const std::string& node, int64_t fence, Run& run) {
  bool started = false;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(bool leader, HoldsLease(tx, node, fence));
    if (!leader) return Status::Ok();
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("UPDATE cron_runs SET status = 'running', node = ?, fence = ?, started_ms = ? "
                                               "WHERE id = ? AND status = 'queued'",
                                               {node, fence, run.started_ms, run.id}));
    started = n == 1;
    return Status::Ok();
  }));
  if (started) {
    run.status = "running";
    run.node = node;
    run.fence = fence;
  }
  return started;
}

Status SchedulerStore::FinishRun(const Run& run) {
  return db_.Exec("UPDATE cron_runs SET status = ?, attempts = ?, finished_ms = ?, output = ?, error = ? WHERE id = ?",
                  {run.status, run.attempts, run.finished_ms, run.output, run.error, run.id})
      .status();
}

Status SchedulerStore::UpdateAttempts(int64_t run_id, int64_t attempts) {
  return db_.Exec("UPDATE cron_runs SET attempts = ? WHERE id = ?", {attempts, run_id}).status();
}

Status SchedulerStore::FailAbandoned(const std::string& node, int64_t now_ms) {
  return db_.Exec("UPDATE cron_runs SET status = 'failed', finished_ms = ?, "
                  "error = 'the process running it stopped before it finished' WHERE status = 'running' AND node <> ?",
                  {now_ms, node})
      .status();
}

Status SchedulerStore::PruneRuns(const std::string& job, int64_t keep) {
  return db_.Exec("DELETE FROM cron_runs WHERE job = ? AND status NOT IN ('queued', 'running') AND id < "
                  "(SELECT MIN(id) FROM (SELECT id FROM cron_runs WHERE job = ? ORDER BY id DESC LIMIT ?) AS newest)",
                  {job, job, keep})
      .status();
}

Result<std::vector<Run>> SchedulerStore::ListRuns(const std::string& job, int64_t offset, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kRunColumns +
                                                   " FROM cron_runs WHERE job = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                                               {job, limit, offset}));
  std::vector<Run> out;
  for (const auto& r : rows) out.push_back(RunFrom(r));
  return out;
}

Result<Run> SchedulerStore::GetRun(const std::string& job, int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kRunColumns + " FROM cron_runs WHERE job = ? AND id = ?",
                                               {job, id}));
  if (rows.empty()) return Status::NotFound("no run " + std::to_string(id) + " of job '" + job + "'");
  return RunFrom(rows[0]);
}

}  // namespace aimass::scheduler
