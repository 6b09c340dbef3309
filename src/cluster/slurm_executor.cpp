#include "cluster/slurm_executor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cluster/local_executor.hpp"
#include "common/spawn.hpp"
#include <spdlog/spdlog.h>
#include "common/thread_name.hpp"
#include "common/time.hpp"

namespace aimass::cluster {

namespace {

struct CommandResult {
  int status = -1;  // exit status; -1 when it could not run
  std::string out;  // stdout and stderr
};

// Runs argv (argv[0] a full path) with `env`, waiting for it; its output is kept (1 MiB at most).
CommandResult RunCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  CommandResult r;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return r;
  SpawnOptions so;
  so.output_fd = fds[1];
  auto spawned = Spawn(argv, env, so);
  ::close(fds[1]);
  if (!spawned.ok()) {
    ::close(fds[0]);
    r.out = spawned.status().message();
    return r;
  }
  const pid_t pid = *spawned;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r.out.size() < (1u << 20)) r.out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int ws = 0;
  while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
  return r;
}

std::string FieldOf(const std::string& line, const std::string& key) {
  std::string k = key + "=";
  size_t at = 0;
  while ((at = line.find(k, at)) != std::string::npos) {
    if (at == 0 || line[at - 1] == ' ') {
      size_t end = line.find(' ', at);
      return line.substr(at + k.size(), end == std::string::npos ? std::string::npos : end - at - k.size());
    }
    at += k.size();
  }
  return "";
}

}  // namespace

std::string ShellQuote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::vector<SlurmJobState> ParseSqueue(const std::string& out) {
  std::vector<SlurmJobState> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find('|');
    if (a == std::string::npos) continue;
    size_t b = line.find('|', a + 1);
    SlurmJobState s;
    s.id = line.substr(0, a);
    s.state = line.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    if (b != std::string::npos) s.reason = line.substr(b + 1);
    if (!s.id.empty() && std::isdigit(static_cast<unsigned char>(s.id[0]))) v.push_back(std::move(s));
  }
  return v;
}

SlurmJobState ParseScontrolJob(const std::string& out) {
  SlurmJobState s;
  s.id = FieldOf(out, "JobId");
  s.state = FieldOf(out, "JobState");
  s.reason = FieldOf(out, "Reason");
  std::string exit = FieldOf(out, "ExitCode");
  size_t colon = exit.find(':');
  if (!exit.empty() && colon != std::string::npos) {
    s.exit_code = std::atoi(exit.substr(0, colon).c_str());
    s.signal = std::atoi(exit.substr(colon + 1).c_str());
  }
  return s;
}

std::vector<std::string> SbatchArgv(const SlurmOptions& o, const Job& job, const std::string& log_path,
                                    const std::string& workdir) {
  const Resources& r = job.spec.resources;
  std::vector<std::string> a = {o.bin_dir + "/sbatch", "--parsable", "--job-name=aimass-" + std::to_string(job.id),
                                "--cpus-per-task=" + std::to_string(r.cpus), "--mem=" + std::to_string(r.memory_mb) + "M",
                                // aimass stops the job at timeout_s; Slurm's limit (whole minutes) is the backstop.
                                "--time=" + std::to_string((job.spec.timeout_s + 59) / 60 + 1), "--output=" + log_path,
                                "--open-mode=append", "--chdir=" + workdir};
  if (r.gpus > 0) a.push_back("--gres=gpu:" + std::to_string(static_cast<int>(std::ceil(r.gpus))));
  if (!o.partition.empty()) a.push_back("--partition=" + o.partition);
  std::string wrap = "exec";
  for (const auto& arg : job.spec.command) wrap += " " + ShellQuote(arg);
  a.push_back("--wrap=" + wrap);
  return a;
}

std::optional<Outcome> SlurmOutcome(const SlurmJobState& s) {
  const std::string& st = s.state;
  if (st.empty() || st == "PENDING" || st == "RUNNING" || st == "CONFIGURING" || st == "COMPLETING" ||
      st == "SUSPENDED" || st == "REQUEUED" || st == "RESIZING" || st == "SIGNALING" || st == "STAGE_OUT") {
    return std::nullopt;
  }
  Outcome o;
  o.exit_code = s.exit_code;
  if (st == "COMPLETED") {
    o.state = JobState::kSucceeded;
  } else if (st == "TIMEOUT" || st == "DEADLINE") {
    o.state = JobState::kTimedOut;
    o.reason = "timeout";
  } else if (st == "OUT_OF_MEMORY") {
    o.reason = "oom_killed";
  } else if (st == "NODE_FAIL" || st == "BOOT_FAIL") {
    o.reason = "node_lost";
  } else if (st == "CANCELLED") {
    o.state = JobState::kCancelled;
    o.reason = "cancelled";
  } else if (st == "FAILED") {
    o.reason = s.signal > 0 ? "killed by signal " + std::to_string(s.signal) : "exit status " + std::to_string(s.exit_code);
  } else {
    o.reason = "slurm: " + st;
  }
  return o;
}

namespace {

class SlurmExecutor final : public Executor {
 public:
  explicit SlurmExecutor(SlurmExecutorOptions o) : o_(std::move(o)) {
    thread_ = NamedThread("cluster-slurm", [this] { Loop(); });
  }
  ~SlurmExecutor() override { Shutdown(); }

  Result<std::string> Start(const Job& job) override {
    const std::string dir = JobDir(o_.jobs_dir, job.id), work = dir + "/work";
    std::error_code ec;
    std::filesystem::create_directories(work, ec);
    if (ec) return Status::Internal("cannot make " + work + ": " + ec.message());
    std::string workdir = job.spec.workdir.empty() ? work : job.spec.workdir;
    CommandResult r = RunCommand(SbatchArgv(o_.slurm, job, dir + "/log", workdir), Env(job));
    std::string id = r.out.substr(0, r.out.find_first_of(";\n"));
    if (r.status != 0 || id.empty() || !std::isdigit(static_cast<unsigned char>(id[0]))) {
      return Status::Unavailable("sbatch failed: " + r.out.substr(0, 400));
    }
    Track(job, id);
    return id;
  }

  void Adopt(const Job& job) override {
    if (job.handle.empty()) {
      Outcome o;
      o.reason = "node_lost";
      if (o_.done) o_.done(job.id, job.attempts, std::move(o));
      return;
    }
    Track(job, job.handle);
  }

  void Stop(const Job& job, JobState why) override {
    std::string id;
    {
      std::lock_guard lock(mu_);
      auto it = jobs_.find(job.id);
      if (it == jobs_.end()) return;
      it->second.stop = why;
      id = it->second.slurm_id;
    }
    RunCommand({o_.slurm.bin_dir + "/scancel", id}, BaseEnv());
  }

  void Shutdown() override {
    if (stopping_.exchange(true)) return;
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Tracked {
    int64_t attempt = 0;
    std::string slurm_id;
    JobState stop = JobState::kRunning;
    bool started = false;
  };

  std::vector<std::string> BaseEnv() const {
    std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"};
    if (!o_.slurm.conf.empty()) env.push_back("SLURM_CONF=" + o_.slurm.conf);
    return env;
  }

  // sbatch passes its own environment to the job (--export=ALL): the job's, never the server's.
  std::vector<std::string> Env(const Job& job) const {
    std::map<std::string, std::string> env = job.spec.env;
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
    if (!env.count("LANG")) env["LANG"] = "C.UTF-8";
    env["AIMASS_JOB_ID"] = std::to_string(job.id);
    env["AIMASS_JOB_ATTEMPT"] = std::to_string(job.attempts);
    if (!o_.slurm.conf.empty()) env["SLURM_CONF"] = o_.slurm.conf;
    std::vector<std::string> out;
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
  }

  void Track(const Job& job, const std::string& id) {
    std::lock_guard lock(mu_);
    jobs_[job.id] = {job.attempts, id, JobState::kRunning, job.state == JobState::kRunning};
    cv_.notify_all();
  }

  void Loop() {
    while (!stopping_.load()) {
      std::map<int64_t, Tracked> jobs;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(o_.poll_ms), [&] { return stopping_.load(); });
        jobs = jobs_;
      }
      if (stopping_.load() || jobs.empty()) continue;
      CommandResult q = RunCommand({o_.slurm.bin_dir + "/squeue", "-h", "-t", "all", "-o", "%i|%T|%r"}, BaseEnv());
      if (q.status != 0) {
        spdlog::warn("cluster: squeue failed: {}", q.out.substr(0, 200));
        continue;
      }
      std::map<std::string, SlurmJobState> states;
      for (auto& s : ParseSqueue(q.out)) states[s.id] = s;
      for (const auto& [id, t] : jobs) {
        auto it = states.find(t.slurm_id);
        SlurmJobState s;
        if (it != states.end()) s = it->second;
        // Ended (or no longer listed): scontrol has the exit code, while Slurm remembers the job.
        if (it == states.end() || SlurmOutcome(s).has_value()) {
          CommandResult c = RunCommand({o_.slurm.bin_dir + "/scontrol", "-o", "show", "job", t.slurm_id}, BaseEnv());
          if (c.status == 0) s = ParseScontrolJob(c.out);
          else if (it == states.end()) s.state = "LOST";
        }
        auto out = SlurmOutcome(s);
        if (!t.started && (out || s.state == "RUNNING" || s.state == "COMPLETING")) {
          {
            std::lock_guard lock(mu_);
            if (auto j = jobs_.find(id); j != jobs_.end()) j->second.started = true;
          }
          if (o_.started) o_.started(id, t.attempt, UnixNowMs());
        }
        if (!out) continue;
        if (s.state == "LOST") out->reason = "node_lost";
        JobState stop = t.stop;
        {
          // What Stop asked since the snapshot (a timeout's scancel shows as CANCELLED).
          std::lock_guard lock(mu_);
          if (auto j = jobs_.find(id); j != jobs_.end()) stop = j->second.stop;
          jobs_.erase(id);
        }
        if (stop == JobState::kTimedOut || stop == JobState::kCancelled) {
          out->state = stop;
          out->reason = stop == JobState::kTimedOut ? "timeout" : "cancelled";
        }
        if (o_.done) o_.done(id, t.attempt, std::move(*out));
      }
    }
  }

  SlurmExecutorOptions o_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Tracked> jobs_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Executor> MakeSlurmExecutor(SlurmExecutorOptions options) {
  return std::make_unique<SlurmExecutor>(std::move(options));
}

}  // namespace aimass::cluster
