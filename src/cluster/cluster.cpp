#include "cluster/cluster.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "cluster/local_executor.hpp"
#include "cluster/sandbox.hpp"
#include "cluster/slurm_executor.hpp"
#include <spdlog/spdlog.h>
#include "common/file.hpp"
#include "common/thread_name.hpp"
#include "common/time.hpp"
#include "events/bus.hpp"

namespace aimass::cluster {

using storage::Tx;

namespace {

constexpr double kEps = 1e-9;

std::string HostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "local";
  std::string h(host);
  h = h.substr(0, h.find('.'));
  std::string out;
  for (char c : h) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ValidNodeName(out) ? out : "local";
}

// What the running jobs of one node hold.
struct Alloc {
  int64_t cpus = 0, memory_mb = 0;
  std::map<int, double> gpu;  // index -> share held
};

double GpuShare(const Job& j) { return j.spec.resources.gpus >= 1 ? 1.0 : j.spec.resources.gpus; }

void Add(Alloc& a, const Job& j) {
  a.cpus += j.spec.resources.cpus;
  a.memory_mb += j.spec.resources.memory_mb;
  for (int g : j.gpu_indexes) a.gpu[g] += GpuShare(j);
}

void Add(Usage& u, const Job& j) {
  u.cpus += j.spec.resources.cpus;
  u.memory_mb += j.spec.resources.memory_mb;
  u.gpus += j.spec.resources.gpus;
}

// GPUs for `want` on a node with `gpus` of which `used` is held: whole free ones, or for a
// share the fullest GPU that still has room (shares pack together, whole GPUs stay free).
std::optional<std::vector<int>> PickGpus(const std::vector<Gpu>& gpus, const std::map<int, double>& used, double want) {
  std::vector<int> out;
  if (want <= 0) return out;
  auto held = [&](int idx) {
    auto it = used.find(idx);
    return it == used.end() ? 0.0 : it->second;
  };
  if (want >= 1) {
    for (const auto& g : gpus) {
      if (held(g.index) < kEps) out.push_back(g.index);
      if (out.size() == static_cast<size_t>(want)) return out;
    }
    return std::nullopt;
  }
  int best = -1;
  double best_held = -1;
  for (const auto& g : gpus) {
    double h = held(g.index);
    if (h + want <= 1 + kEps && h > best_held) {
      best = g.index;
      best_held = h;
    }
  }
  if (best < 0) return std::nullopt;
  out.push_back(best);
  return out;
}

bool WithinQuota(const Quota& q, const Usage& u, const Resources& r) {
  return (q.cpus < 0 || u.cpus + r.cpus <= q.cpus) && (q.memory_mb < 0 || u.memory_mb + r.memory_mb <= q.memory_mb) &&
         (q.gpus < 0 || u.gpus + r.gpus <= q.gpus + kEps);
}

// The quotas that apply to a job's owner: their own, and their roles' (a role is a team).
std::vector<std::pair<std::string, const Quota*>> QuotasOf(const std::map<std::string, Quota>& quotas,
                                                           const std::string& owner,
                                                           const std::vector<std::string>& roles) {
  std::vector<std::pair<std::string, const Quota*>> out;
  if (auto it = quotas.find("user:" + owner); it != quotas.end()) out.emplace_back(it->first, &it->second);
  for (const auto& r : roles) {
    if (auto it = quotas.find("role:" + r); it != quotas.end()) out.emplace_back(it->first, &it->second);
  }
  return out;
}

// How an ended attempt changes its job: the final state, or back to the queue for a retry.
// Returns the event's topic.
std::string ApplyEnd(Job& j, const Outcome& o, int64_t now_ms) {
  j.exit_code = o.exit_code;
  j.max_memory_mb = std::max(j.max_memory_mb, o.max_memory_mb);
  j.updated_ms = now_ms;
  j.reason = o.reason;
  bool retry = (o.state == JobState::kFailed || o.state == JobState::kTimedOut) && j.stop.empty() &&
               j.attempts < 1 + j.spec.retries;
  if (retry) {
    j.state = JobState::kQueued;
    j.node.clear();
    j.gpu_indexes.clear();
    j.handle.clear();
    return "cluster.job.retrying";
  }
  j.state = j.stop == "cancelled" ? JobState::kCancelled : o.state;
  if (j.state == JobState::kCancelled) j.reason = "cancelled";
  j.finished_ms = now_ms;
  return std::string("cluster.job.") + StateName(j.state);
}

}  // namespace

Cluster::Cluster(storage::Db& db, ClusterOptions options) : db_(db), o_(std::move(options)), store_(db) {}

Cluster::~Cluster() { Stop(); }

Status Cluster::Open() {
  std::error_code ec;
  std::filesystem::create_directories(o_.jobs_dir, ec);
  if (ec) return Status::Internal("cannot make " + o_.jobs_dir + ": " + ec.message());
  if (!o_.run_jobs) return Status::Ok();  // a library: submits and reads, runs nothing
  AIMASS_ASSIGN_OR_RETURN(limits_, Limits::Detect(o_.limits));
  // The node is this jobs directory's: a restart (even after a crash) takes the same name and
  // instance back and adopts its jobs; a second live process on it is refused.
  lock_fd_ = ::open((o_.jobs_dir + "/node.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || !LockFile(lock_fd_, FileLock::kExclusive, false)) {
    return Status::Conflict("the jobs directory " + o_.jobs_dir +
                            " is in use by another aimass process (give each its own data_dir or cluster.jobs_dir)");
  }
  const std::string id_file = o_.jobs_dir + "/node.json";
  std::string name = o_.node_name.empty() ? HostName() : o_.node_name;
  std::string instance = o_.instance;
  if (auto text = ReadFile(id_file); text.ok()) {
    nlohmann::json id = nlohmann::json::parse(*text, nullptr, false);
    if (id.is_object() && id.value("name", "") != "" && (o_.node_name.empty() || id.value("name", "") == o_.node_name)) {
      name = id.value("name", name);
      instance = id.value("instance", o_.instance);
    }
  }
  AIMASS_ASSIGN_OR_RETURN(local_, DetectLocalNode(name, o_.gpus));
  local_.instance = instance;
  local_.labels = o_.labels;
  local_.limits = limits_.name();
  local_.sandbox = SandboxWorks();
  local_.url = o_.url ? o_.url() : "";
  local_.registered_ms = local_.heartbeat_ms = UnixNowMs();
  // Another process (with its own jobs directory) holds the host's name: this one takes a
  // numbered name, unless cluster.node_name says otherwise.
  for (int n = 2;; ++n) {
    AIMASS_ASSIGN_OR_RETURN(bool mine, store_.RegisterNode(local_, local_.heartbeat_ms - o_.down_after_ms));
    if (mine) break;
    if (!o_.node_name.empty() || n > 64) {
      return Status::Conflict("node '" + local_.name + "' is held by another live process");
    }
    local_.name = name + "-" + std::to_string(n);
  }
  AIMASS_RETURN_IF_ERROR(WriteFileAtomically(
      id_file, nlohmann::json{{"name", local_.name}, {"instance", local_.instance}}.dump() + "\n", 0600));
  spdlog::info("cluster: node {} ({} CPUs, {} MiB, {} GPUs, limits {}, sandbox {})", local_.name, local_.cpus,
                  local_.memory_mb, local_.gpus.size(), local_.limits, local_.sandbox ? "bubblewrap" : "unavailable");

  LocalExecutorOptions lo;
  lo.jobs_dir = o_.jobs_dir;
  lo.group_prefix = local_.instance + "-";
  lo.limits = limits_;
  lo.sandbox_works = local_.sandbox;
  auto done = [this](int64_t id, int64_t attempt, Outcome out) { OnDone(id, attempt, std::move(out)); };
  lo.done = done;
  local_exec_ = MakeLocalExecutor(std::move(lo));
  if (o_.slurm.enabled) {
    SlurmExecutorOptions so;
    so.slurm = o_.slurm;
    so.jobs_dir = o_.jobs_dir;
    so.done = done;
    so.started = [this](int64_t id, int64_t attempt, int64_t at_ms) {
      {
        std::lock_guard lock(mu_);
        began_.push_back({id, attempt, at_ms});
      }
      cv_.notify_one();
    };
    slurm_exec_ = MakeSlurmExecutor(std::move(so));
  }

  // What this node was running before the restart: followed again, or ended as node_lost.
  AIMASS_ASSIGN_OR_RETURN(std::vector<Job> mine, store_.RunningJobs(local_.name));
  if (slurm_exec_) {
    AIMASS_ASSIGN_OR_RETURN(std::vector<Job> slurm, store_.HandedToSlurm("slurm@" + local_.name));
    mine.insert(mine.end(), slurm.begin(), slurm.end());
  }
  for (auto& j : mine) {
    Running r;
    r.job = j;
    r.deadline_ms = j.state == JobState::kRunning ? j.started_ms + j.spec.timeout_s * 1000 : INT64_MAX;
    running_[j.id] = r;
    (j.spec.executor == "slurm" ? slurm_exec_.get() : local_exec_.get())->Adopt(j);
  }
  return Status::Ok();
}

void Cluster::Start() {
  if (!o_.run_jobs || thread_.joinable()) return;
  // The server listens now: other processes learn where this node's process answers.
  local_.url = o_.url ? o_.url() : "";
  local_.heartbeat_ms = UnixNowMs();
  auto registered = store_.RegisterNode(local_, local_.heartbeat_ms - o_.down_after_ms);
  if (!registered.ok()) spdlog::warn("cluster: cannot record node {}'s URL: {}", local_.name, registered.status().message());
  thread_ = NamedThread("cluster", [this] { Loop(); });
  // Heartbeats on their own thread: a loop busy with sbatch calls or a slow store must not
  // make the others take this node for lost.
  heartbeat_ = NamedThread("cluster-beat", [this] {
    std::unique_lock lock(mu_);
    while (!stopping_.load()) {
      lock.unlock();
      Status st = store_.Heartbeat(local_.name, local_.instance, UnixNowMs());
      if (!st.ok()) spdlog::warn("cluster: heartbeat of node {} failed: {}", local_.name, st.message());
      lock.lock();
      beat_cv_.wait_for(lock, std::chrono::milliseconds(o_.heartbeat_ms), [&] { return stopping_.load(); });
    }
  });
}

void Cluster::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_.store(true);
  }
  cv_.notify_all();
  beat_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (local_exec_) local_exec_->Shutdown();
  if (slurm_exec_) slurm_exec_->Shutdown();
  if (lock_fd_ >= 0) ::close(lock_fd_);
  lock_fd_ = -1;
}

Status Cluster::CheckFits(const JobSpec& spec, const Principal& who) {
  if (spec.executor == "slurm") {
    if (!o_.slurm.enabled) return Status::Unprocessable("the Slurm executor is not configured (cluster.slurm)");
    return Status::Ok();
  }
  AIMASS_ASSIGN_OR_RETURN(std::vector<Node> nodes, store_.ListNodes());
  const int64_t now = UnixNowMs();
  bool any = false, sandbox = false;
  for (const auto& n : nodes) {
    if (EffectiveState(n, now, o_.down_after_ms) == "down") continue;
    sandbox = sandbox || n.sandbox;
    if (spec.sandbox && !n.sandbox) continue;
    if (spec.resources.cpus <= n.cpus && spec.resources.memory_mb <= n.memory_mb &&
        PickGpus(n.gpus, {}, spec.resources.gpus).has_value()) {
      any = true;
    }
  }
  if (!any) {
    if (spec.sandbox && !sandbox) return Status::Unprocessable("no node can sandbox jobs (bubblewrap)");
    return Status::Unprocessable("no node has " + std::to_string(spec.resources.cpus) + " CPUs, " +
                                 std::to_string(spec.resources.memory_mb) + " MiB and " +
                                 std::to_string(spec.resources.gpus) + " GPUs");
  }
  AIMASS_ASSIGN_OR_RETURN(std::vector<Quota> quotas, store_.ListQuotas());
  std::map<std::string, Quota> by_subject;
  for (auto& q : quotas) by_subject[q.subject] = q;
  for (auto [subject, q] : QuotasOf(by_subject, who.username, who.roles)) {
    if (!WithinQuota(*q, Usage{}, spec.resources)) {
      return Status::Unprocessable("the job alone is over the quota of " + subject);
    }
  }
  return Status::Ok();
}

Result<Job> Cluster::Submit(JobSpec spec, const Principal& who) {
  AIMASS_RETURN_IF_ERROR(CheckFits(spec, who));
  Job j;
  j.spec = std::move(spec);
  j.owner = who.username;
  j.owner_roles = who.roles;
  j.state = JobState::kQueued;
  j.created_ms = j.updated_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.InsertJob(j));
  Publish("cluster.job.queued", j);
  {
    std::lock_guard lock(mu_);
    kick_ = true;
  }
  cv_.notify_one();
  return j;
}

Result<Job> Cluster::Get(int64_t id) { return store_.GetJob(id); }

Result<std::vector<Job>> Cluster::List(const JobFilter& filter) { return store_.ListJobs(filter); }

Result<Job> Cluster::Cancel(int64_t id) {
  // A job moves between "in no executor's hands" (queued on no node) and "held by a node's
  // process" while this runs: each step is guarded by what it expects, and tried again if
  // the job moved meanwhile.
  for (int tries = 0;; ++tries) {
    AIMASS_ASSIGN_OR_RETURN(Job j, store_.GetJob(id));
    if (Finished(j.state)) return j;
    AIMASS_ASSIGN_OR_RETURN(bool queued, store_.CancelQueued(id, UnixNowMs()));
    if (queued) {
      AIMASS_ASSIGN_OR_RETURN(Job c, store_.GetJob(id));
      Publish("cluster.job.cancelled", c);
      return c;
    }
    // Held: the process that runs it stops it (this one, or another node's, on its next tick).
    AIMASS_ASSIGN_OR_RETURN(bool asked, store_.RequestStop(id, "cancelled"));
    if (asked) break;
    if (tries >= 10) return Status::Conflict("job " + std::to_string(id) + " keeps changing; try again");
  }
  {
    std::lock_guard lock(mu_);
    kick_ = true;
  }
  cv_.notify_one();
  return store_.GetJob(id);
}

Result<std::vector<Node>> Cluster::Nodes() {
  AIMASS_ASSIGN_OR_RETURN(std::vector<Node> nodes, store_.ListNodes());
  AIMASS_ASSIGN_OR_RETURN(std::vector<Job> running, store_.RunningJobs(""));
  for (auto& n : nodes) {
    for (const auto& j : running) {
      if (j.node != n.name) continue;
      n.used_cpus += j.spec.resources.cpus;
      n.used_memory_mb += j.spec.resources.memory_mb;
      n.running_jobs += 1;
      for (int g : j.gpu_indexes) n.gpu_used[g] += GpuShare(j);
    }
    if (n.state == "draining" && n.running_jobs == 0) n.state = "drained";
  }
  return nodes;
}

Result<Node> Cluster::GetNode(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(std::vector<Node> nodes, Nodes());
  for (auto& n : nodes) {
    if (n.name == name) return n;
  }
  return Status::NotFound("no node '" + name + "'");
}

Result<Node> Cluster::SetNodeState(const std::string& name, bool drain) {
  AIMASS_RETURN_IF_ERROR(store_.SetNodeState(name, drain ? "draining" : "ready"));
  if (o_.bus) {
    o_.bus->Publish(drain ? "cluster.node.drained" : "cluster.node.undrained", nlohmann::json{{"node", name}}.dump());
  }
  {
    std::lock_guard lock(mu_);
    kick_ = true;
  }
  cv_.notify_one();
  return GetNode(name);
}

Result<std::vector<Quota>> Cluster::Quotas() { return store_.ListQuotas(); }
Status Cluster::PutQuota(const Quota& q) {
  AIMASS_RETURN_IF_ERROR(store_.PutQuota(q));
  {
    std::lock_guard lock(mu_);
    kick_ = true;
  }
  cv_.notify_one();
  return Status::Ok();
}
Status Cluster::DeleteQuota(const std::string& subject) { return store_.DeleteQuota(subject); }

std::string Cluster::LogPath(int64_t id) const { return JobLogPath(o_.jobs_dir, id); }

uint64_t Cluster::Follow(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  followers_[next_follower_] = std::move(wake);
  return next_follower_++;
}

void Cluster::Unfollow(uint64_t id) {
  std::lock_guard lock(mu_);
  followers_.erase(id);
}

void Cluster::Publish(const std::string& topic, const Job& j) {
  if (o_.bus == nullptr) return;
  nlohmann::json d = {{"id", j.id},          {"name", j.spec.name},   {"owner", j.owner},
                      {"state", StateName(j.state)}, {"reason", j.reason}, {"attempt", j.attempts},
                      {"node", j.node},      {"executor", j.spec.executor}};
  if (j.exit_code >= 0) d["exit_code"] = j.exit_code;
  o_.bus->Publish(topic, d.dump());
}

void Cluster::OnDone(int64_t id, int64_t attempt, Outcome outcome) {
  {
    std::lock_guard lock(mu_);
    ended_.push_back({id, attempt, std::move(outcome)});
  }
  cv_.notify_one();
}

Status Cluster::RecordEnds(std::vector<Ended> ended) {
  const int64_t now = UnixNowMs();
  std::vector<std::pair<std::string, Job>> events;
  Status st = db_.Transaction([&](Tx& tx) -> Status {
    events.clear();
    for (const auto& e : ended) {
      auto it = running_.find(e.id);
      if (it == running_.end() || it->second.job.attempts != e.attempt) continue;
      // The row as stored now (a cancel may have come since), and only while it is still this
      // attempt on this process's node: a node swept as lost meanwhile has nothing to say.
      AIMASS_ASSIGN_OR_RETURN(Job j, ClusterStore::GetJobTx(tx, e.id));
      if (j.attempts != e.attempt || j.node != it->second.job.node || Finished(j.state)) continue;
      if (it->second.stopping && e.outcome.state == JobState::kCancelled) j.stop = "cancelled";
      const JobState was = j.state;
      std::string topic = ApplyEnd(j, e.outcome, now);
      AIMASS_ASSIGN_OR_RETURN(bool changed, ClusterStore::UpdateJobTx(tx, j, was));
      if (changed) events.emplace_back(std::move(topic), std::move(j));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    std::lock_guard lock(mu_);  // kept for the next tick: an end is never dropped
    ended_.insert(ended_.begin(), ended.begin(), ended.end());
    return st;
  }
  for (const auto& e : ended) {
    auto it = running_.find(e.id);
    if (it != running_.end() && it->second.job.attempts == e.attempt) running_.erase(it);
  }
  for (const auto& [topic, j] : events) Publish(topic, j);
  return Status::Ok();
}

Status Cluster::RecordStarts(std::vector<Began> began) {
  std::vector<Job> events;
  Status st = db_.Transaction([&](Tx& tx) -> Status {
    events.clear();
    for (const auto& b : began) {
      auto it = running_.find(b.id);
      if (it == running_.end() || it->second.job.attempts != b.attempt) continue;
      AIMASS_ASSIGN_OR_RETURN(Job j, ClusterStore::GetJobTx(tx, b.id));
      if (j.state != JobState::kQueued || j.attempts != b.attempt || j.node != it->second.job.node) continue;
      j.state = JobState::kRunning;
      j.started_ms = b.at_ms;
      j.updated_ms = UnixNowMs();
      AIMASS_ASSIGN_OR_RETURN(bool changed, ClusterStore::UpdateJobTx(tx, j, JobState::kQueued));
      if (changed) events.push_back(std::move(j));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    std::lock_guard lock(mu_);
    began_.insert(began_.begin(), began.begin(), began.end());
    return st;
  }
  for (auto& j : events) {
    Running& r = running_[j.id];
    r.deadline_ms = j.started_ms + j.spec.timeout_s * 1000;
    r.job = j;
    Publish("cluster.job.running", j);
  }
  return Status::Ok();
}

void Cluster::CheckStops(int64_t now_ms) {
  if (running_.empty()) return;
  std::vector<int64_t> ids;
  for (const auto& [id, r] : running_) ids.push_back(id);
  auto holders = store_.Holders(ids);
  if (!holders.ok()) return;  // the store is away: nothing to learn this tick
  for (auto& [id, r] : running_) {
    if (r.stopping) continue;
    Executor* ex = r.job.spec.executor == "slurm" ? slurm_exec_.get() : local_exec_.get();
    if (ex == nullptr) continue;
    auto h = holders->find(id);
    // The store gave this attempt up (this node was taken for lost while it still ran): it
    // stops, so that the job does not run twice.
    auto state = h == holders->end() ? Result<JobState>(JobState::kFailed) : ParseState(h->second.state);
    bool lost = h == holders->end() || h->second.attempts != r.job.attempts || h->second.node != r.job.node ||
                !state.ok() || Finished(*state);
    if (lost || h->second.stop == "cancelled") {
      r.stopping = true;
      ex->Stop(r.job, JobState::kCancelled);
    } else if (now_ms >= r.deadline_ms) {
      r.stopping = true;
      ex->Stop(r.job, JobState::kTimedOut);
    }
  }
}

Status Cluster::SweepLostNodes(int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(std::vector<Node> nodes, store_.ListNodes());
  std::set<std::string> down;
  for (const auto& n : nodes) {
    if (n.name != local_.name && EffectiveState(n, now_ms, o_.down_after_ms) == "down") down.insert(n.name);
  }
  if (down.empty()) return Status::Ok();
  std::vector<std::pair<std::string, Job>> events;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    events.clear();
    AIMASS_ASSIGN_OR_RETURN(std::vector<Job> running, ClusterStore::RunningJobsTx(tx, ""));
    for (auto& j : running) {
      if (!down.count(j.node)) continue;
      Outcome o;
      o.reason = "node_lost";
      std::string topic = ApplyEnd(j, o, now_ms);
      AIMASS_ASSIGN_OR_RETURN(bool changed, ClusterStore::UpdateJobTx(tx, j, JobState::kRunning));
      if (changed) events.emplace_back(std::move(topic), std::move(j));
    }
    return Status::Ok();
  }));
  for (const auto& [topic, j] : events) Publish(topic, j);
  return Status::Ok();
}

Status Cluster::Dispatch() {
  // A read first: most ticks find nothing to do and take no write lock.
  AIMASS_ASSIGN_OR_RETURN(storage::Rows any,
                          db_.Query("SELECT id FROM cluster_jobs WHERE state = 'queued' AND executor = 'local' LIMIT 1"));
  if (any.empty()) return Status::Ok();
  const int64_t now = UnixNowMs();
  std::vector<Job> claimed;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    claimed.clear();
    AIMASS_ASSIGN_OR_RETURN(storage::Rows me, tx.Query("SELECT state FROM cluster_nodes WHERE name = ?", {local_.name}));
    if (me.empty() || me[0].Text(0) != "ready") return Status::Ok();
    AIMASS_ASSIGN_OR_RETURN(auto queued, ClusterStore::CandidatesTx(tx, "local", 512));
    AIMASS_ASSIGN_OR_RETURN(std::vector<Job> running, ClusterStore::RunningJobsTx(tx, ""));
    AIMASS_ASSIGN_OR_RETURN(std::vector<Quota> quota_list, ClusterStore::ListQuotasTx(tx));
    std::map<std::string, Quota> quotas;
    for (auto& q : quota_list) quotas[q.subject] = q;
    Alloc alloc;
    std::map<std::string, Usage> usage;  // by quota subject
    auto charge = [&](const Job& j) {
      Add(usage["user:" + j.owner], j);
      for (const auto& r : j.owner_roles) Add(usage["role:" + r], j);
    };
    for (const auto& j : running) {
      if (j.node == local_.name) Add(alloc, j);
      charge(j);
    }
    for (const auto& c : queued) {
      if (alloc.cpus >= local_.cpus) break;  // every job takes a CPU: the node is full
      const Resources& r = c.resources;
      if (alloc.cpus + r.cpus > local_.cpus || alloc.memory_mb + r.memory_mb > local_.memory_mb) continue;
      auto gpus = PickGpus(local_.gpus, alloc.gpu, r.gpus);
      if (!gpus) continue;
      bool over = false;
      for (auto [subject, q] : QuotasOf(quotas, c.owner, c.owner_roles)) over = over || !WithinQuota(*q, usage[subject], r);
      if (over) continue;
      // Only a job that fits has its spec read.
      AIMASS_ASSIGN_OR_RETURN(Job j, ClusterStore::GetJobTx(tx, c.id));
      if (j.spec.sandbox && !local_.sandbox) continue;
      j.state = JobState::kRunning;
      j.attempts += 1;
      j.node = local_.name;
      j.gpu_indexes = *gpus;
      j.started_ms = j.updated_ms = now;
      j.reason.clear();
      j.exit_code = -1;
      j.stop.clear();
      AIMASS_ASSIGN_OR_RETURN(bool ok, ClusterStore::UpdateJobTx(tx, j, JobState::kQueued));
      if (!ok) continue;
      Add(alloc, j);
      charge(j);
      claimed.push_back(j);
    }
    return Status::Ok();
  }));
  for (auto& j : claimed) {
    Running r;
    r.job = j;
    r.deadline_ms = j.started_ms + j.spec.timeout_s * 1000;
    running_[j.id] = r;
    Publish("cluster.job.running", j);
    auto handle = local_exec_->Start(j);
    if (!handle.ok()) {
      Outcome o;
      o.reason = "start_failed: " + handle.status().message();
      OnDone(j.id, j.attempts, std::move(o));
    }
  }
  return Status::Ok();
}

Status Cluster::DispatchSlurm() {
  if (!slurm_exec_) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(storage::Rows any,
                          db_.Query("SELECT id FROM cluster_jobs WHERE state = 'queued' AND executor = 'slurm' LIMIT 1"));
  if (any.empty()) return Status::Ok();
  const int64_t now = UnixNowMs();
  std::vector<Job> claimed;
  // Slurm queues and places them itself: every queued one is handed over at once.
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](Tx& tx) -> Status {
    claimed.clear();
    AIMASS_ASSIGN_OR_RETURN(std::vector<Job> queued, ClusterStore::QueuedJobsTx(tx, "slurm", 256));
    for (auto& j : queued) {
      // Queued still, now in Slurm's queue: running once Slurm says so (RecordStarts).
      j.attempts += 1;
      j.node = "slurm@" + local_.name;
      j.started_ms = 0;
      j.updated_ms = now;
      j.reason.clear();
      j.exit_code = -1;
      j.stop.clear();
      AIMASS_ASSIGN_OR_RETURN(bool ok, ClusterStore::UpdateJobTx(tx, j, JobState::kQueued));
      if (ok) claimed.push_back(j);
    }
    return Status::Ok();
  }));
  for (auto& j : claimed) {
    Running r;
    r.job = j;
    r.deadline_ms = INT64_MAX;  // from when it runs
    auto handle = slurm_exec_->Start(j);
    if (!handle.ok()) {
      running_[j.id] = r;
      Outcome o;
      o.reason = "start_failed: " + handle.status().message();
      OnDone(j.id, j.attempts, std::move(o));
      continue;
    }
    j.handle = *handle;
    r.job.handle = *handle;
    running_[j.id] = r;
    Status st = store_.SetHandle(j.id, j.attempts, *handle);
    if (!st.ok()) spdlog::warn("cluster: cannot record Slurm job {} of job {}: {}", *handle, j.id, st.message());
  }
  return Status::Ok();
}

void Cluster::Loop() {
  int64_t last_sweep = 0;
  while (!stopping_.load()) {
    std::vector<Ended> ended;
    std::vector<Began> began;
    std::vector<std::function<void()>> wakes;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(250),
                   [&] { return kick_ || !ended_.empty() || !began_.empty() || stopping_.load(); });
      kick_ = false;
      began.swap(began_);
      ended.swap(ended_);
      for (auto& [id, w] : followers_) wakes.push_back(w);
    }
    if (stopping_.load()) break;
    const int64_t now = UnixNowMs();
    if (!began.empty()) {
      Status st = RecordStarts(std::move(began));
      if (!st.ok()) spdlog::warn("cluster: cannot record started jobs (kept for the next try): {}", st.message());
    }
    if (!ended.empty()) {
      Status st = RecordEnds(std::move(ended));
      if (!st.ok()) spdlog::warn("cluster: cannot record ended jobs (kept for the next try): {}", st.message());
    }
    CheckStops(now);
    if (now - last_sweep >= o_.heartbeat_ms) {
      last_sweep = now;
      Status st = SweepLostNodes(now);
      if (!st.ok()) spdlog::warn("cluster: sweep of lost nodes failed: {}", st.message());
    }
    if (Status st = Dispatch(); !st.ok()) spdlog::warn("cluster: dispatch failed: {}", st.message());
    if (Status st = DispatchSlurm(); !st.ok()) spdlog::warn("cluster: Slurm dispatch failed: {}", st.message());
    for (auto& w : wakes) w();
  }
}

}  // namespace aimass::cluster
