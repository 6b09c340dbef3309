#include "cluster/local_executor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/sandbox.hpp"
#include "common/file.hpp"
#include "common/spawn.hpp"
#include <spdlog/spdlog.h>
#include "common/thread_name.hpp"
#include "common/time.hpp"

namespace aimass::cluster {

std::string JobDir(const std::string& jobs_dir, int64_t id) { return jobs_dir + "/" + std::to_string(id); }
std::string JobLogPath(const std::string& jobs_dir, int64_t id) { return JobDir(jobs_dir, id) + "/log"; }

namespace {

// The wrapper every attempt runs in: joins the cgroup (before anything of the job runs), sets
// the rlimit fallback, runs the command, records its exit status. Its pid goes to <status>.pid
// first, so that a restarted server finds it; SIGTERM leaves it waiting (a stopped job gets its
// grace period and its status is still written; exec resets the trap for the job). Arguments:
//   $1 status file, $2 address-space limit in KiB (0: none), cgroup.procs files…, --, argv…
constexpr const char* kWrapper =
    "st=$1; lim=$2; shift 2\n"
    "echo $$ > \"$st.pid\"\n"
    "trap : TERM\n"
    "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 125; shift; done; shift\n"
    "[ \"$lim\" = 0 ] || ulimit -v \"$lim\" || exit 125\n"
    "\"$@\"\n"
    "rc=$?\n"
    "echo $rc > \"$st\"\n"
    "exit $rc\n";

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }


class LocalExecutor final : public Executor {
 public:
  explicit LocalExecutor(LocalExecutorOptions o) : o_(std::move(o)) {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    evfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeToken;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
    thread_ = std::thread([this] { Loop(); });
  }

  ~LocalExecutor() override {
    Shutdown();
    ::close(epfd_);
    ::close(evfd_);
  }

  Result<std::string> Start(const Job& job) override {
    const JobSpec& s = job.spec;
    if (s.sandbox && !o_.sandbox_works) {
      return Status::Unprocessable("sandboxed jobs need bubblewrap (/usr/bin/bwrap), which does not work on this node");
    }
    const std::string dir = JobDir(o_.jobs_dir, job.id), own_work = dir + "/work";
    std::error_code ec;
    std::filesystem::create_directories(own_work, ec);
    if (ec) return Status::Internal("cannot make " + own_work + ": " + ec.message());
    const std::string workdir = s.workdir.empty() ? own_work : s.workdir;
    if (!s.workdir.empty()) {
      struct stat st;
      if (::stat(workdir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return Status::Unprocessable("workdir " + workdir + " is not a directory on node");
      }
    }
    int log = ::open((dir + "/log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0) return Status::Internal("cannot open the job's log: " + std::string(strerror(errno)));
    if (job.attempts > 1) {
      WriteAll(log, "--- attempt " + std::to_string(job.attempts) + " (" + Rfc3339Ms(UnixNowMs()) + ") ---\n");
    }
    const std::string group = GroupName(job.id, job.attempts);
    auto procs = o_.limits.Create(group, s.resources);
    if (!procs.ok()) {
      ::close(log);
      return procs.status();
    }
    const std::string status_file = StatusFile(job.id, job.attempts);
    ::unlink(status_file.c_str());
    ::unlink((status_file + ".pid").c_str());

    std::vector<std::string> argv = {"/bin/sh", "-c", kWrapper, "aimass-job", status_file,
                                     o_.limits.kind() == Limits::Kind::kRlimit ? std::to_string(o_.limits.RlimitKb(s.resources)) : "0"};
    argv.insert(argv.end(), procs->begin(), procs->end());
    argv.push_back("--");

    // The job sees its own variables and ours, never the server's environment (secrets).
    std::map<std::string, std::string> env = s.env;
    std::string gpus;
    for (int g : job.gpu_indexes) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
    if (!env.count("LANG")) env["LANG"] = "C.UTF-8";
    env["HOME"] = s.sandbox ? kSandboxWorkdir : workdir;
    env["AIMASS_JOB_ID"] = std::to_string(job.id);
    env["AIMASS_JOB_ATTEMPT"] = std::to_string(job.attempts);
    env["AIMASS_JOB_NODE"] = job.node;
    env["CUDA_VISIBLE_DEVICES"] = gpus;  // empty: no GPU, whatever the machine has
    if (!s.env.count("OMP_NUM_THREADS")) env["OMP_NUM_THREADS"] = std::to_string(s.resources.cpus);
    std::vector<std::string> envs;
    int env_fd = -1;
    if (s.sandbox) {
      // Set inside the sandbox only: the wrapper and bwrap run on the host, where a job's
      // LD_PRELOAD would load what it wrote into its own directory.
      env.erase("HOME");
      // The variables go to bwrap through a descriptor, not its argv: /proc/*/cmdline is
      // readable by every local user, and a job's env holds its token and secrets.
      env_fd = ::memfd_create("aimass-job-env", MFD_CLOEXEC);
      const std::string blob = SandboxEnvArgs(env);
      if (env_fd < 0 || !WriteAll(env_fd, blob) || ::lseek(env_fd, 0, SEEK_SET) != 0) {
        if (env_fd >= 0) ::close(env_fd);
        ::close(log);
        o_.limits.Remove(group);
        return Status::Internal("cannot pass the job's environment: " + std::string(strerror(errno)));
      }
      auto sb = SandboxArgv(workdir, s.network, env, job.gpu_indexes, /*env_fd=*/3);
      argv.insert(argv.end(), sb.begin(), sb.end());
      envs = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"};
    } else {
      for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    }
    argv.insert(argv.end(), s.command.begin(), s.command.end());

    // Its own process group: cancel and timeout signal the whole tree.
    SpawnOptions so;
    so.output_fd = log;
    so.chdir = workdir;
    so.own_group = true;
    so.pass_fd = env_fd;
    auto spawned = Spawn(argv, envs, so);
    ::close(log);
    if (env_fd >= 0) ::close(env_fd);
    if (!spawned.ok()) {
      o_.limits.Remove(group);
      return spawned.status();
    }
    const pid_t pid = *spawned;
    TrackFd(job.id, job.attempts, pid, PidfdOpen(pid), group, /*child=*/true);
    return std::to_string(pid);
  }

  void Adopt(const Job& job) override {
    const std::string group = GroupName(job.id, job.attempts);
    const std::string status_file = StatusFile(job.id, job.attempts);
    auto pid_text = ReadFile(status_file + ".pid");
    pid_t pid = pid_text.ok() ? static_cast<pid_t>(std::strtol(pid_text->c_str(), nullptr, 10)) : 0;
    if (pid > 0) {
      // The pid is this attempt's wrapper only while that process still names its status file
      // (numbers are reused); the pidfd, opened first, stays with the process it was opened on.
      int pidfd = PidfdOpen(pid);
      auto cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
      bool same = pidfd >= 0 && cmdline.ok() && cmdline->find(status_file + '\0') != std::string::npos;
      if (same) {
        TrackFd(job.id, job.attempts, pid, pidfd, group, /*child=*/false);
        return;
      }
      if (pidfd >= 0) ::close(pidfd);
    }
    // Gone while the server was down: its status file says how it ended, if it got that far.
    Outcome out = Judge(job.id, job.attempts, group, JobState::kRunning, /*signalled=*/-1);
    std::lock_guard lock(mu_);
    pending_.push_back({job.id, job.attempts, std::move(out)});
    Wake();
  }

  void Stop(const Job& job, JobState why) override {
    std::lock_guard lock(mu_);
    auto it = procs_.find(job.id);
    if (it == procs_.end()) return;
    Proc& p = it->second;
    if (p.stop == JobState::kRunning) p.stop = why;
    p.term_ms = UnixNowMs();
    if (o_.limits.kind() == Limits::Kind::kRlimit) {
      ::kill(-p.pid, SIGTERM);
    } else {
      // The job's own processes, not the wrapper or bubblewrap: bubblewrap's end would kill the
      // sandbox at once (--die-with-parent) and take the job's grace period with it.
      const pid_t wrapper = p.pid;
      o_.limits.SignalAll(p.group, SIGTERM, [wrapper](pid_t pid) {
        if (pid == wrapper) return true;
        auto comm = ReadFile("/proc/" + std::to_string(pid) + "/comm");
        return comm.ok() && comm->rfind("bwrap", 0) == 0;
      });
    }
    Wake();
  }

  void Shutdown() override {
    if (stopping_.exchange(true)) return;
    Wake();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    for (auto& [id, p] : procs_) ::close(p.pidfd);
    procs_.clear();
  }

 private:
  static constexpr uint64_t kWakeToken = ~uint64_t{0};

  struct Proc {
    int64_t attempt = 0;
    pid_t pid = 0;
    int pidfd = -1;
    bool child = false;
    std::string group;
    JobState stop = JobState::kRunning;  // kCancelled / kTimedOut once asked to stop
    int64_t term_ms = 0;
    bool killed = false;
  };
  struct Pending {
    int64_t id, attempt;
    Outcome outcome;
  };

  void Wake() {
    uint64_t one = 1;
    (void)!::write(evfd_, &one, sizeof one);
  }

  std::string GroupName(int64_t id, int64_t attempt) const {
    return o_.group_prefix + "job-" + std::to_string(id) + "-" + std::to_string(attempt);
  }

  std::string StatusFile(int64_t id, int64_t attempt) const {
    return JobDir(o_.jobs_dir, id) + "/exit-" + std::to_string(attempt);
  }

  void TrackFd(int64_t id, int64_t attempt, pid_t pid, int pidfd, const std::string& group, bool child) {
    std::lock_guard lock(mu_);
    Proc p;
    p.attempt = attempt;
    p.pid = pid;
    p.pidfd = pidfd;
    p.child = child;
    p.group = group;
    if (pidfd < 0) {  // already gone and reaped by someone else: judged from its files
      pending_.push_back({id, attempt, Judge(id, attempt, group, JobState::kRunning, -1)});
      Wake();
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(id);
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, pidfd, &ev);
    procs_[id] = std::move(p);
  }

  // How an attempt ended, from its status file and cgroup. `stop`: what we asked for;
  // `signalled`: the signal that killed the wrapper itself (-1: unknown, 0: none).
  Outcome Judge(int64_t id, int64_t attempt, const std::string& group, JobState stop, int signalled) {
    Outcome out;
    auto text = ReadFile(StatusFile(id, attempt));
    bool have_code = false;
    if (text.ok() && !text->empty()) {
      char* end = nullptr;
      long code = std::strtol(text->c_str(), &end, 10);
      if (end != text->c_str()) {
        out.exit_code = code;
        have_code = true;
      }
    }
    out.max_memory_mb = o_.limits.PeakMemoryMb(group);
    bool oom = o_.limits.OomKilled(group);
    if (!o_.limits.Remove(group)) {
      std::lock_guard lock(left_mu_);
      leftover_groups_.push_back(group);
    }
    if (stop == JobState::kCancelled) {
      out.state = JobState::kCancelled;
      out.reason = "cancelled";
    } else if (stop == JobState::kTimedOut) {
      out.state = JobState::kTimedOut;
      out.reason = "timeout";
    } else if (oom) {
      out.state = JobState::kFailed;
      out.reason = "oom_killed";
    } else if (have_code && out.exit_code == 0) {
      out.state = JobState::kSucceeded;
    } else if (have_code) {
      out.state = JobState::kFailed;
      out.reason = out.exit_code > 128 && out.exit_code < 160 ? "killed by signal " + std::to_string(out.exit_code - 128)
                                                             : "exit status " + std::to_string(out.exit_code);
    } else if (signalled > 0) {
      out.state = JobState::kFailed;
      out.reason = "killed by signal " + std::to_string(signalled);
    } else {
      out.state = JobState::kFailed;
      out.reason = "node_lost";
    }
    return out;
  }

  void Finish(int64_t id) {
    Proc p;
    {
      std::lock_guard lock(mu_);
      auto it = procs_.find(id);
      if (it == procs_.end()) return;
      p = std::move(it->second);
      procs_.erase(it);
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, p.pidfd, nullptr);
      ::close(p.pidfd);
    }
    int signalled = -1;
    if (p.child) {
      // Whatever the command left behind in its group goes with it; the zombie keeps the
      // group's number from being reused until it is reaped.
      ::kill(-p.pid, SIGKILL);
      int ws = 0;
      if (::waitpid(p.pid, &ws, 0) == p.pid) signalled = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    }
    o_.limits.SignalAll(p.group, SIGKILL);
    Outcome out = Judge(id, p.attempt, p.group, p.stop, signalled);
    if (o_.done) o_.done(id, p.attempt, std::move(out));
  }

  void Loop() {
    NameThisThread("cluster-reaper");
    epoll_event evs[64];
    while (!stopping_.load()) {
      int n = ::epoll_wait(epfd_, evs, 64, 100);
      for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == kWakeToken) {
          uint64_t v;
          (void)!::read(evfd_, &v, sizeof v);
          continue;
        }
        Finish(static_cast<int64_t>(evs[i].data.u64));
      }
      std::vector<Pending> pending;
      {
        std::lock_guard lock(mu_);
        pending.swap(pending_);
        // Stopped jobs that ignored SIGTERM for the grace period get SIGKILL.
        int64_t now = UnixNowMs();
        for (auto& [id, p] : procs_) {
          if (p.term_ms > 0 && !p.killed && now - p.term_ms >= o_.kill_grace_ms) {
            ::kill(-p.pid, SIGKILL);
            o_.limits.SignalAll(p.group, SIGKILL);
            p.killed = true;
          }
        }
      }
      {
        // Groups whose processes were still leaving when the attempt was judged.
        std::lock_guard lock(left_mu_);
        for (auto it = leftover_groups_.begin(); it != leftover_groups_.end();) {
          it = o_.limits.Remove(*it) ? leftover_groups_.erase(it) : it + 1;
        }
      }
      for (auto& x : pending) {
        if (o_.done) o_.done(x.id, x.attempt, std::move(x.outcome));
      }
    }
  }

  LocalExecutorOptions o_;
  std::mutex mu_;
  std::map<int64_t, Proc> procs_;
  std::vector<Pending> pending_;
  std::mutex left_mu_;
  std::vector<std::string> leftover_groups_;
  int epfd_ = -1, evfd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Executor> MakeLocalExecutor(LocalExecutorOptions options) {
  return std::make_unique<LocalExecutor>(std::move(options));
}

}  // namespace aimass::cluster
