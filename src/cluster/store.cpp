#include "cluster/store.hpp"

namespace aimass::cluster {

using nlohmann::json;
using storage::Row;
using storage::Rows;
using storage::Tx;
using storage::Value;

namespace {

constexpr const char* kNodeColumns =
    "name, instance, url, cpus, memory_mb, gpus, labels, state, limits, sandbox, registered_ms, heartbeat_ms";
constexpr const char* kJobColumns =
    "id, owner, owner_roles, spec, state, reason, exit_code, attempts, node, gpu_indexes, handle, created_ms, "
    "started_ms, finished_ms, updated_ms, max_memory_mb, stop";

std::vector<std::string> StringsFrom(const std::string& text) {
  std::vector<std::string> out;
  json j = json::parse(text, nullptr, false);
  if (j.is_array()) {
    for (const auto& e : j) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  return out;
}

Node NodeFrom(const Row& r) {
  Node n;
  n.name = r.Text(0);
  n.instance = r.Text(1);
  n.url = r.Text(2);
  n.cpus = r.Int(3);
  n.memory_mb = r.Int(4);
  json gpus = json::parse(r.Text(5), nullptr, false);
  if (gpus.is_array()) {
    for (const auto& g : gpus) {
      n.gpus.push_back({g.value("index", 0), g.value("model", ""), g.value("memory_mb", int64_t{0}), g.value("uuid", "")});
    }
  }
  json labels = json::parse(r.Text(6), nullptr, false);
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.value().is_string()) n.labels[it.key()] = it.value().get<std::string>();
    }
  }
  n.state = r.Text(7);
  n.limits = r.Text(8);
  n.sandbox = r.Int(9) != 0;
  n.registered_ms = r.Int(10);
  n.heartbeat_ms = r.Int(11);
  return n;
}

Result<Job> JobFrom(const Row& r) {
  Job j;
  j.id = r.Int(0);
  j.owner = r.Text(1);
  j.owner_roles = StringsFrom(r.Text(2));
  json spec = json::parse(r.Text(3), nullptr, false);
  auto parsed = SpecFromJson(spec);
  if (!parsed.ok()) return Status::Internal("stored job " + std::to_string(j.id) + " no longer parses: " + parsed.status().message());
  j.spec = std::move(*parsed);
  AIMASS_ASSIGN_OR_RETURN(j.state, ParseState(r.Text(4)));
  j.reason = r.Text(5);
  j.exit_code = r.Int(6);
  j.attempts = r.Int(7);
  j.node = r.Text(8);
  json gpus = json::parse(r.Text(9), nullptr, false);
  if (gpus.is_array()) {
    for (const auto& g : gpus) {
      if (g.is_number_integer()) j.gpu_indexes.push_back(g.get<int>());
    }
  }
  j.handle = r.Text(10);
  j.created_ms = r.Int(11);
  j.started_ms = r.Int(12);
  j.finished_ms = r.Int(13);
  j.updated_ms = r.Int(14);
  j.max_memory_mb = r.Int(15);
  j.stop = r.Text(16);
  return j;
}

Result<std::vector<Job>> JobsFrom(const Rows& rows) {
  std::vector<Job> out;
  for (const auto& r : rows) {
    AIMASS_ASSIGN_OR_RETURN(Job j, JobFrom(r));
    out.push_back(std::move(j));
  }
  return out;
}

Quota QuotaFrom(const Row& r) {
  return {r.Text(0), r.Int(1), r.Int(2), r.Double(3), r.Int(4)};
}

std::string GpusJson(const std::vector<Gpu>& gpus) {
  json a = json::array();
  for (const auto& g : gpus) a.push_back({{"index", g.index}, {"model", g.model}, {"memory_mb", g.memory_mb}, {"uuid", g.uuid}});
  return a.dump();
}

}  // namespace

std::vector<storage::Migration> ClusterStore::Migrations() {
  return {{"cluster", 1, R"(
CREATE TABLE cluster_nodes (
  name TEXT PRIMARY KEY,
  instance TEXT NOT NULL,
  url TEXT NOT NULL DEFAULT '',
  cpus INTEGER NOT NULL,
  memory_mb INTEGER NOT NULL,
  gpus TEXT NOT NULL DEFAULT '[]',
  labels TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'ready',
  limits TEXT NOT NULL DEFAULT '',
  sandbox INTEGER NOT NULL DEFAULT 0,
  registered_ms INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL
);
CREATE TABLE cluster_jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  owner TEXT NOT NULL,
  owner_roles TEXT NOT NULL DEFAULT '[]',
  spec TEXT NOT NULL,
  executor TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  cpus INTEGER NOT NULL,
  memory_mb INTEGER NOT NULL,
  gpus REAL NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  exit_code INTEGER NOT NULL DEFAULT -1,
  attempts INTEGER NOT NULL DEFAULT 0,
  node TEXT NOT NULL DEFAULT '',
  gpu_indexes TEXT NOT NULL DEFAULT '[]',
  handle TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0,
  updated_ms INTEGER NOT NULL,
  max_memory_mb INTEGER NOT NULL DEFAULT 0,
  stop TEXT NOT NULL DEFAULT ''
);
CREATE INDEX cluster_jobs_queue ON cluster_jobs (state, executor, priority, id);
CREATE INDEX cluster_jobs_by_owner ON cluster_jobs (owner, id);
CREATE INDEX cluster_jobs_by_node ON cluster_jobs (node, state);
CREATE TABLE cluster_quotas (
  subject TEXT PRIMARY KEY,
  cpus INTEGER NOT NULL DEFAULT -1,
  memory_mb INTEGER NOT NULL DEFAULT -1,
  gpus REAL NOT NULL DEFAULT -1,
  updated_ms INTEGER NOT NULL
);
)"}};
}

Result<bool> ClusterStore::RegisterNode(const Node& n, int64_t stale_before_ms) {
  bool taken = false;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT instance, heartbeat_ms FROM cluster_nodes WHERE name = ?", {n.name}));
    if (!rows.empty() && rows[0].Text(0) != n.instance && rows[0].Int(1) >= stale_before_ms) {
      taken = true;
      return Status::Ok();
    }
    json labels = n.labels;
    if (rows.empty()) {
      return tx.Exec(std::string("INSERT INTO cluster_nodes (") + kNodeColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     {n.name, n.instance, n.url, n.cpus, n.memory_mb, GpusJson(n.gpus), labels.dump(), n.state, n.limits,
                      int64_t{n.sandbox}, n.registered_ms, n.heartbeat_ms})
          .status();
    }
    return tx.Exec("UPDATE cluster_nodes SET instance = ?, url = ?, cpus = ?, memory_mb = ?, gpus = ?, labels = ?, "
                   "limits = ?, sandbox = ?, registered_ms = ?, heartbeat_ms = ? WHERE name = ?",
                   {n.instance, n.url, n.cpus, n.memory_mb, GpusJson(n.gpus), labels.dump(), n.limits,
                    int64_t{n.sandbox}, n.registered_ms, n.heartbeat_ms, n.name})
        .status();
  }));
  return !taken;
}

Status ClusterStore::Heartbeat(const std::string& name, const std::string& instance, int64_t now_ms) {
  return db_.Exec("UPDATE cluster_nodes SET heartbeat_ms = ? WHERE name = ? AND instance = ?", {now_ms, name, instance})
      .status();
}

Result<std::vector<Node>> ClusterStore::ListNodes() {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kNodeColumns + " FROM cluster_nodes ORDER BY name"));
  std::vector<Node> out;
  for (const auto& r : rows) out.push_back(NodeFrom(r));
  return out;
}

Result<Node> ClusterStore::GetNode(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kNodeColumns + " FROM cluster_nodes WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no node '" + name + "'");
  return NodeFrom(rows[0]);
}

Status ClusterStore::SetNodeState(const std::string& name, const std::string& state) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE cluster_nodes SET state = ? WHERE name = ?", {state, name}));
  if (n == 0) return Status::NotFound("no node '" + name + "'");
  return Status::Ok();
}

Status ClusterStore::InsertJob(Job& job) {
  json roles = job.owner_roles;
  return db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_RETURN_IF_ERROR(
        tx.Exec("INSERT INTO cluster_jobs (name, owner, owner_roles, spec, executor, priority, cpus, memory_mb, gpus, "
                "state, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                {job.spec.name, job.owner, roles.dump(), SpecJson(job.spec, true).dump(), job.spec.executor,
                 job.spec.priority, job.spec.resources.cpus, job.spec.resources.memory_mb, job.spec.resources.gpus,
                 StateName(job.state), job.created_ms, job.updated_ms})
            .status());
    job.id = tx.LastInsertId();
    return Status::Ok();
  });
}

Result<Job> ClusterStore::GetJob(int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kJobColumns + " FROM cluster_jobs WHERE id = ?", {id}));
  if (rows.empty()) return Status::NotFound("no job " + std::to_string(id));
  return JobFrom(rows[0]);
}

Result<std::vector<Job>> ClusterStore::ListJobs(const JobFilter& f) {
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM cluster_jobs WHERE 1 = 1";
  std::vector<Value> params;
  if (!f.states.empty()) {
    sql += " AND state IN (";
    for (size_t i = 0; i < f.states.size(); ++i) {
      sql += i ? ",?" : "?";
      params.emplace_back(f.states[i]);
    }
    sql += ")";
  }
  for (auto [col, val] : {std::pair<const char*, const std::string*>{"owner", &f.owner}, {"node", &f.node},
                          {"executor", &f.executor}, {"name", &f.name}}) {
    if (val->empty()) continue;
    sql += std::string(" AND ") + col + " = ?";
    params.emplace_back(*val);
  }
  sql += " ORDER BY id DESC LIMIT ? OFFSET ?";
  params.emplace_back(f.limit);
  params.emplace_back(f.offset);
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(sql, params));
  return JobsFrom(rows);
}

Result<std::vector<Job>> ClusterStore::RunningJobsTx(Tx& tx, const std::string& node) {
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM cluster_jobs WHERE state = 'running'";
  std::vector<Value> params;
  if (!node.empty()) {
    sql += " AND node = ?";
    params.emplace_back(node);
  }
  AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query(sql + " ORDER BY id", params));
  return JobsFrom(rows);
}

Result<std::vector<Job>> ClusterStore::RunningJobs(const std::string& node) {
  Result<std::vector<Job>> out = std::vector<Job>{};
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    out = RunningJobsTx(tx, node);
    return out.status();
  }));
  return out;
}

Result<std::vector<ClusterStore::Candidate>> ClusterStore::CandidatesTx(Tx& tx, const std::string& executor,
                                                                        int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT id, owner, owner_roles, cpus, memory_mb, gpus FROM cluster_jobs "
                                              "WHERE state = 'queued' AND executor = ? AND node = '' "
                                              "ORDER BY priority DESC, id LIMIT ?",
                                              {executor, limit}));
  std::vector<Candidate> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    Candidate c;
    c.id = r.Int(0);
    c.owner = r.Text(1);
    c.owner_roles = StringsFrom(r.Text(2));
    c.resources.cpus = r.Int(3);
    c.resources.memory_mb = r.Int(4);
    c.resources.gpus = r.Double(5);
    out.push_back(std::move(c));
  }
  return out;
}

Result<Job> ClusterStore::GetJobTx(Tx& tx, int64_t id) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kJobColumns + " FROM cluster_jobs WHERE id = ?", {id}));
  if (rows.empty()) return Status::NotFound("no job " + std::to_string(id));
  return JobFrom(rows[0]);
}

Result<std::vector<Job>> ClusterStore::HandedToSlurm(const std::string& node) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(std::string("SELECT ") + kJobColumns +
                                                   " FROM cluster_jobs WHERE state IN ('queued', 'running') AND node = ? "
                                                   "ORDER BY id",
                                               {node}));
  return JobsFrom(rows);
}

Result<std::vector<Job>> ClusterStore::QueuedJobsTx(Tx& tx, const std::string& executor, int64_t limit) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query(std::string("SELECT ") + kJobColumns +
                                                  " FROM cluster_jobs WHERE state = 'queued' AND executor = ? AND node = '' "
                                                  "ORDER BY priority DESC, id LIMIT ?",
                                              {executor, limit}));
  return JobsFrom(rows);
}

Result<bool> ClusterStore::UpdateJobTx(Tx& tx, const Job& j, JobState expected) {
  json gpus = j.gpu_indexes;
  AIMASS_ASSIGN_OR_RETURN(
      int64_t n, tx.Exec("UPDATE cluster_jobs SET state = ?, reason = ?, exit_code = ?, attempts = ?, node = ?, "
                         "gpu_indexes = ?, handle = ?, started_ms = ?, finished_ms = ?, updated_ms = ?, max_memory_mb = ?, "
                         "stop = ? WHERE id = ? AND state = ?",
                         {StateName(j.state), j.reason, j.exit_code, j.attempts, j.node, gpus.dump(), j.handle,
                          j.started_ms, j.finished_ms, j.updated_ms, j.max_memory_mb, j.stop, j.id,
                          StateName(expected)}));
  return n > 0;
}

Result<bool> ClusterStore::CancelQueued(int64_t id, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE cluster_jobs SET state = 'cancelled', reason = 'cancelled', "
                                               "stop = 'cancelled', finished_ms = ?, updated_ms = ? "
                                               "WHERE id = ? AND state = 'queued' AND node = ''",
                                               {now_ms, now_ms, id}));
  return n > 0;
}

Status ClusterStore::SetHandle(int64_t id, int64_t attempt, const std::string& handle) {
  return db_.Exec("UPDATE cluster_jobs SET handle = ? WHERE id = ? AND attempts = ?", {handle, id, attempt}).status();
}

Result<std::map<int64_t, ClusterStore::Holder>> ClusterStore::Holders(const std::vector<int64_t>& ids) {
  std::map<int64_t, Holder> out;
  for (size_t at = 0; at < ids.size(); at += 200) {
    std::string sql = "SELECT id, attempts, node, state, stop FROM cluster_jobs WHERE id IN (";
    std::vector<Value> params;
    for (size_t i = at; i < std::min(ids.size(), at + 200); ++i) {
      sql += i == at ? "?" : ",?";
      params.emplace_back(ids[i]);
    }
    AIMASS_ASSIGN_OR_RETURN(Rows rows, db_.Query(sql + ")", params));
    for (const auto& r : rows) out[r.Int(0)] = {r.Int(1), r.Text(2), r.Text(3), r.Text(4)};
  }
  return out;
}

Result<bool> ClusterStore::UpdateJob(const Job& job, JobState expected) {
  bool done = false;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(done, UpdateJobTx(tx, job, expected));
    return Status::Ok();
  }));
  return done;
}

Result<bool> ClusterStore::RequestStop(int64_t id, const std::string& why) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("UPDATE cluster_jobs SET stop = ? WHERE id = ? AND state IN ('queued', 'running') AND node <> ''",
                                              {why, id}));
  return n > 0;
}

Result<std::vector<Quota>> ClusterStore::ListQuotasTx(Tx& tx) {
  AIMASS_ASSIGN_OR_RETURN(Rows rows, tx.Query("SELECT subject, cpus, memory_mb, gpus, updated_ms FROM cluster_quotas ORDER BY subject"));
  std::vector<Quota> out;
  for (const auto& r : rows) out.push_back(QuotaFrom(r));
  return out;
}

Result<std::vector<Quota>> ClusterStore::ListQuotas() {
  Result<std::vector<Quota>> out = std::vector<Quota>{};
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    out = ListQuotasTx(tx);
    return out.status();
  }));
  return out;
}

Status ClusterStore::PutQuota(const Quota& q) {
  return db_.Exec("INSERT INTO cluster_quotas (subject, cpus, memory_mb, gpus, updated_ms) VALUES (?,?,?,?,?) "
                  "ON CONFLICT (subject) DO UPDATE SET cpus = excluded.cpus, memory_mb = excluded.memory_mb, "
                  "gpus = excluded.gpus, updated_ms = excluded.updated_ms",
                  {q.subject, q.cpus, q.memory_mb, q.gpus, q.updated_ms})
      .status();
}

Status ClusterStore::DeleteQuota(const std::string& subject) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM cluster_quotas WHERE subject = ?", {subject}));
  if (n == 0) return Status::NotFound("no quota for '" + subject + "'");
  return Status::Ok();
}

}  // namespace aimass::cluster
