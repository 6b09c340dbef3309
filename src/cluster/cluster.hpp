// Cluster: the compute cluster's service. Nodes register themselves and heartbeat; users submit
// jobs, which wait in one queue (priority, then age) until a node has room for them within
// their owner's quotas; each process that serves `cluster` runs the jobs placed on its own
// node through the local executor, and Slurm jobs through the Slurm executor. State lives in
// the metadata store, so jobs and their logs survive restarts; a job whose process vanished
// while nobody watched ends as node_lost (and is retried when it has retries left).
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/executor.hpp"
#include "cluster/job.hpp"
#include "cluster/limits.hpp"
#include "cluster/node.hpp"
#include "cluster/store.hpp"
#include "common/principal.hpp"
#include "common/status.hpp"

namespace aimass::events {
class EventBus;
}

namespace aimass::cluster {

struct SlurmOptions {
  bool enabled = false;
  std::string conf;       // SLURM_CONF for the commands; empty: Slurm's default
  std::string partition;  // empty: the default partition
  std::string bin_dir = "/usr/bin";
};

struct ClusterOptions {
  std::string node_name;        // empty: the host name
  std::string instance;         // this process (unique)
  std::function<std::string()> url;
  std::string jobs_dir;
  std::string gpus = "auto";    // cluster.gpus
  std::string limits = "auto";  // cluster.limits
  std::map<std::string, std::string> labels;
  int64_t heartbeat_ms = 3000;
  int64_t down_after_ms = 10000;
  bool run_jobs = true;         // this process runs its node's jobs (it serves `cluster`)
  SlurmOptions slurm;
  events::EventBus* bus = nullptr;
};

class Cluster {
 public:
  Cluster(storage::Db& db, ClusterOptions options);
  ~Cluster();

  // Reads this machine, registers it as a node, adopts the jobs it was running.
  Status Open();
  void Start();
  void Stop();

  Result<Job> Submit(JobSpec spec, const Principal& who);
  Result<Job> Get(int64_t id);
  Result<std::vector<Job>> List(const JobFilter& filter);
  Result<Job> Cancel(int64_t id);

  Result<std::vector<Node>> Nodes();
  Result<Node> GetNode(const std::string& name);
  Result<Node> SetNodeState(const std::string& name, bool drain);

  Result<std::vector<Quota>> Quotas();
  Status PutQuota(const Quota& q);
  Status DeleteQuota(const std::string& subject);

  std::string LogPath(int64_t id) const;
  // Calls `wake` about four times a second while registered (log followers poll their file).
  uint64_t Follow(std::function<void()> wake);
  void Unfollow(uint64_t id);

  const std::string& node_name() const { return local_.name; }
  int64_t down_after_ms() const { return o_.down_after_ms; }

 private:
  struct Running {
    Job job;
    int64_t deadline_ms = 0;
    bool stopping = false;
  };
  struct Ended {
    int64_t id, attempt;
    Outcome outcome;
  };
  struct Began {
    int64_t id, attempt, at_ms;
  };

  void Loop();
  void OnDone(int64_t id, int64_t attempt, Outcome outcome);
  Status RecordEnds(std::vector<Ended> ended);
  Status RecordStarts(std::vector<Began> began);
  Status Dispatch();
  Status DispatchSlurm();
  void CheckStops(int64_t now_ms);
  Status SweepLostNodes(int64_t now_ms);
  void Publish(const std::string& topic, const Job& job);
  Status CheckFits(const JobSpec& spec, const Principal& who);

  storage::Db& db_;
  ClusterOptions o_;
  ClusterStore store_;
  Node local_;
  Limits limits_;
  std::unique_ptr<Executor> local_exec_;
  std::unique_ptr<Executor> slurm_exec_;

  std::mutex mu_;
  std::condition_variable cv_;       // the loop's: a kick, an end, a start
  std::condition_variable beat_cv_;  // the heartbeat thread's: only the stop
  bool kick_ = false;
  std::vector<Ended> ended_;
  std::vector<Began> began_;
  std::map<int64_t, Running> running_;  // this process's jobs: local ones on its node, and Slurm ones
  std::map<uint64_t, std::function<void()>> followers_;
  uint64_t next_follower_ = 1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::thread heartbeat_;
  int lock_fd_ = -1;  // jobs_dir/node.lock, held while the process lives
};

}  // namespace aimass::cluster
