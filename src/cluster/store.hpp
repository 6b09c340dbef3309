// ClusterStore: the cluster's tables (nodes, jobs, quotas) and their SQL, through storage::Db.
// Dispatch and completion run in the caller's transactions (the *Tx functions), so that a
// claim, its quota check and its node's allocation are one atomic step in every process.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/job.hpp"
#include "cluster/node.hpp"
#include "storage/db.hpp"

namespace aimass::cluster {

struct Quota {
  std::string subject;  // user:<name> | role:<name>
  int64_t cpus = -1, memory_mb = -1;  // -1: no limit
  double gpus = -1;
  int64_t updated_ms = 0;
};

struct JobFilter {
  std::vector<std::string> states;
  std::string owner, node, executor, name;
  int64_t limit = 50, offset = 0;
};

// What the running jobs hold, for quotas.
struct Usage {
  int64_t cpus = 0, memory_mb = 0;
  double gpus = 0;
};

class ClusterStore {
 public:
  explicit ClusterStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  // Registers `n` under its name for `n.instance`, unless another instance holds it with a
  // heartbeat newer than `stale_before_ms` (false then). Keeps an admin's draining state.
  Result<bool> RegisterNode(const Node& n, int64_t stale_before_ms);
  Status Heartbeat(const std::string& name, const std::string& instance, int64_t now_ms);
  Result<std::vector<Node>> ListNodes();
  Result<Node> GetNode(const std::string& name);
  Status SetNodeState(const std::string& name, const std::string& state);

  Status InsertJob(Job& job);
  Result<Job> GetJob(int64_t id);
  Result<std::vector<Job>> ListJobs(const JobFilter& f);
  // Running jobs (all, or those on `node`), for allocation and recovery.
  Result<std::vector<Job>> RunningJobs(const std::string& node);
  static Result<std::vector<Job>> RunningJobsTx(storage::Tx& tx, const std::string& node);
  // What placement needs of a queued job, without parsing its spec.
  struct Candidate {
    int64_t id = 0;
    std::string owner;
    std::vector<std::string> owner_roles;
    Resources resources;
  };
  static Result<std::vector<Candidate>> CandidatesTx(storage::Tx& tx, const std::string& executor, int64_t limit);
  static Result<Job> GetJobTx(storage::Tx& tx, int64_t id);
  // Queued jobs not yet handed to an executor, by priority then age.
  static Result<std::vector<Job>> QueuedJobsTx(storage::Tx& tx, const std::string& executor, int64_t limit);
  // Jobs this process handed to Slurm (node "slurm@<node>"): waiting there, or running.
  Result<std::vector<Job>> HandedToSlurm(const std::string& node);
  // Sets the run-time fields of a job (state, reason, exit code, attempts, node, GPUs, handle,
  // times), guarded by the state it is expected to be in; false when it was not.
  static Result<bool> UpdateJobTx(storage::Tx& tx, const Job& job, JobState expected);
  Result<bool> UpdateJob(const Job& job, JobState expected);
  // Cancels a job no executor holds yet (queued on no node); false when it is not such a job.
  Result<bool> CancelQueued(int64_t id, int64_t now_ms);
  // Records the executor's handle (Slurm's job id) of attempt `attempt`, touching nothing else.
  Status SetHandle(int64_t id, int64_t attempt, const std::string& handle);
  // id -> (attempts, node, state) of these jobs: what the store says of the attempts a
  // process follows.
  struct Holder {
    int64_t attempts = 0;
    std::string node, state, stop;
  };
  Result<std::map<int64_t, Holder>> Holders(const std::vector<int64_t>& ids);

  // Asks the process that handed job `id` to its executor to stop it (a cancel); false when
  // it is in no executor's hands.
  Result<bool> RequestStop(int64_t id, const std::string& why);
  Result<std::vector<Quota>> ListQuotas();
  static Result<std::vector<Quota>> ListQuotasTx(storage::Tx& tx);
  Status PutQuota(const Quota& q);
  Status DeleteQuota(const std::string& subject);

  storage::Db& db() { return db_; }

 private:
  storage::Db& db_;
};

}  // namespace aimass::cluster
