#include "cluster/limits.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/file.hpp"
#include <spdlog/spdlog.h>

namespace aimass::cluster {

namespace {

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  if (!f) return false;
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

std::string ReadText(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : std::string();
}

// The value after `key ` in a flat-keyed file (memory.events, memory.oom_control).
int64_t KeyedValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  int64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// This process's cgroup path in the hierarchy with `controller` (v1), or the unified one (v2:
// controller ""). Empty when not found.
std::string OwnCgroup(const std::string& controller) {
  std::istringstream in(ReadText("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controller.empty()) {
      if (line.substr(0, a) == "0" && ctrls.empty()) return path;
      continue;
    }
    std::istringstream cs(ctrls);
    for (std::string c; std::getline(cs, c, ',');) {
      if (c == controller) return path;
    }
  }
  return "";
}

// Where a cgroup file system is mounted: v2 (`cgroup2`) or v1 with `controller` in its options.
std::string MountOf(const std::string& fstype, const std::string& controller) {
  std::istringstream in(ReadText("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, devno, root, mount, type, source, opts;
    pre >> id >> parent >> devno >> root >> mount;
    post >> type >> source >> opts;
    if (type != fstype) continue;
    if (controller.empty()) return mount;
    std::istringstream os(opts);
    for (std::string o; std::getline(os, o, ',');) {
      if (o == controller) return mount;
    }
  }
  return "";
}

bool MakeDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  return !ec && ::access(path.c_str(), W_OK) == 0;
}

std::string JoinPath(const std::string& mount, const std::string& cg) {
  return mount + (cg == "/" ? std::string() : cg);
}

}  // namespace

const char* Limits::name() const {
  switch (kind_) {
    case Kind::kCgroupV2: return "cgroup-v2";
    case Kind::kCgroupV1: return "cgroup-v1";
    case Kind::kRlimit: return "rlimit";
  }
  return "rlimit";
}

Result<Limits> Limits::Detect(const std::string& want) {
  Limits l;
  bool any = want.empty() || want == "auto";
  if (any || want == "cgroup-v2") {
    // v2: processes may live only in leaves once controllers are enabled below a group, so
    // this process moves into <ours>/server and jobs go under <ours>/jobs.
    std::string mount = MountOf("cgroup2", ""), own = OwnCgroup("");
    if (!mount.empty() && !own.empty()) {
      std::string base = JoinPath(mount, own);
      std::string have = ReadText(base + "/cgroup.controllers");
      bool controllers = have.find("memory") != std::string::npos && have.find("cpu") != std::string::npos;
      if (controllers && MakeDir(base + "/server") &&
          WriteText(base + "/server/cgroup.procs", std::to_string(::getpid())) &&
          WriteText(base + "/cgroup.subtree_control", "+memory +cpu") && MakeDir(base + "/jobs") &&
          WriteText(base + "/jobs/cgroup.subtree_control", "+memory +cpu")) {
        l.kind_ = Kind::kCgroupV2;
        l.memory_base_ = base + "/jobs";
        return l;
      }
    }
    if (want == "cgroup-v2") return Status::Internal("cluster.limits=cgroup-v2, but no writable cgroup v2 with memory and cpu");
  }
  if (any || want == "cgroup-v1") {
    std::string mm = MountOf("cgroup", "memory"), cm = MountOf("cgroup", "cpu");
    std::string mo = OwnCgroup("memory"), co = OwnCgroup("cpu");
    if (!mm.empty() && !cm.empty() && !mo.empty() && !co.empty()) {
      std::string mb = JoinPath(mm, mo) + "/aimass-jobs", cb = JoinPath(cm, co) + "/aimass-jobs";
      if (MakeDir(mb) && MakeDir(cb) && ::access((mb + "/cgroup.procs").c_str(), W_OK) == 0) {
        l.kind_ = Kind::kCgroupV1;
        l.memory_base_ = mb;
        l.cpu_base_ = cb;
        return l;
      }
    }
    if (want == "cgroup-v1") return Status::Internal("cluster.limits=cgroup-v1, but the memory and cpu controllers are not writable");
  }
  if (!any && want != "rlimit") return Status::BadRequest("cluster.limits: unknown '" + want + "'");
  l.kind_ = Kind::kRlimit;
  return l;
}

std::vector<std::string> Limits::Dirs(const std::string& group) const {
  switch (kind_) {
    case Kind::kCgroupV2: return {memory_base_ + "/" + group};
    case Kind::kCgroupV1: return {memory_base_ + "/" + group, cpu_base_ + "/" + group};
    case Kind::kRlimit: return {};
  }
  return {};
}

Result<std::vector<std::string>> Limits::Create(const std::string& group, const Resources& r) const {
  std::vector<std::string> procs;
  if (kind_ == Kind::kRlimit) return procs;
  auto dirs = Dirs(group);
  for (const auto& d : dirs) {
    if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::Internal("cannot make cgroup " + d + ": " + strerror(errno));
    }
  }
  const int64_t bytes = r.memory_mb * 1024 * 1024;
  const int64_t period = 100000, quota = r.cpus * period;
  bool ok;
  if (kind_ == Kind::kCgroupV2) {
    ok = WriteText(dirs[0] + "/memory.max", std::to_string(bytes)) &&
         WriteText(dirs[0] + "/cpu.max", std::to_string(quota) + " " + std::to_string(period));
    WriteText(dirs[0] + "/memory.swap.max", "0");  // absent without swap accounting: fine
  } else {
    ok = WriteText(dirs[0] + "/memory.limit_in_bytes", std::to_string(bytes)) &&
         WriteText(dirs[1] + "/cpu.cfs_period_us", std::to_string(period)) &&
         WriteText(dirs[1] + "/cpu.cfs_quota_us", std::to_string(quota));
    // With swap accounting, the limit covers swap too, so a job over it is killed, not swapped.
    if (::access((dirs[0] + "/memory.memsw.limit_in_bytes").c_str(), W_OK) == 0) {
      WriteText(dirs[0] + "/memory.memsw.limit_in_bytes", std::to_string(bytes));
    }
  }
  if (!ok) {
    Remove(group);
    return Status::Internal("cannot set the limits of cgroup " + dirs[0]);
  }
  for (const auto& d : dirs) procs.push_back(d + "/cgroup.procs");
  return procs;
}

int64_t Limits::RlimitKb(const Resources& r) const {
  // Address space, not resident memory: runtimes reserve far more than they touch, so the
  // fallback allows four times the request (and at least 1 GiB).
  return std::max<int64_t>(r.memory_mb * 4, 1024) * 1024;
}

bool Limits::OomKilled(const std::string& group) const {
  if (kind_ == Kind::kRlimit) return false;
  std::string dir = Dirs(group)[0];
  if (kind_ == Kind::kCgroupV2) return KeyedValue(ReadText(dir + "/memory.events"), "oom_kill") > 0;
  return KeyedValue(ReadText(dir + "/memory.oom_control"), "oom_kill") > 0;
}

int64_t Limits::PeakMemoryMb(const std::string& group) const {
  if (kind_ == Kind::kRlimit) return 0;
  std::string dir = Dirs(group)[0];
  std::string v = ReadText(dir + (kind_ == Kind::kCgroupV2 ? "/memory.peak" : "/memory.max_usage_in_bytes"));
  return std::strtoll(v.c_str(), nullptr, 10) / (1024 * 1024);
}

int Limits::SignalAll(const std::string& group, int sig, const std::function<bool(pid_t)>& skip) const {
  if (kind_ == Kind::kRlimit) return 0;
  int n = 0;
  std::istringstream in(ReadText(Dirs(group)[0] + "/cgroup.procs"));
  for (pid_t pid; in >> pid;) {
    if (pid > 0 && !(skip && skip(pid)) && ::kill(pid, sig) == 0) ++n;
  }
  return n;
}

bool Limits::Remove(const std::string& group) const {
  bool all = true;
  for (const auto& d : Dirs(group)) {
    if (::rmdir(d.c_str()) != 0 && errno != ENOENT) all = false;
  }
  return all;
}

}  // namespace aimass::cluster
