// Limits: how this machine bounds a job's memory and CPU. A cgroup per attempt: v2 (memory.max,
// cpu.max) where the unified hierarchy offers those controllers, v1's memory and cpu
// controllers where they are mounted; address-space rlimits where neither is writable. The
// cgroup also tells how the attempt ended (the kernel's OOM kills) and holds every process the
// job started, so that a cancel kills them all, even those that left its process group.
// Thread-safe (no state changes after Detect).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "cluster/job.hpp"
#include "common/status.hpp"

namespace aimass::cluster {

class Limits {
 public:
  enum class Kind { kCgroupV2, kCgroupV1, kRlimit };
  // `want`: auto | cgroup-v2 | cgroup-v1 | rlimit (cluster.limits). Auto takes the first that
  // works in that order; a named one that does not work is an error.
  static Result<Limits> Detect(const std::string& want);

  Kind kind() const { return kind_; }
  const char* name() const;

  // Makes group `group` with the limits; returns the files a process writes its pid into to
  // join it (empty for rlimits: the wrapper sets `ulimit -v` from RlimitKb instead).
  Result<std::vector<std::string>> Create(const std::string& group, const Resources& r) const;
  int64_t RlimitKb(const Resources& r) const;
  bool OomKilled(const std::string& group) const;
  int64_t PeakMemoryMb(const std::string& group) const;
  // Signals every process in the group but those `skip` names; returns how many it signalled.
  int SignalAll(const std::string& group, int sig, const std::function<bool(pid_t)>& skip = nullptr) const;
  // Removes the group; false while processes remain in it.
  bool Remove(const std::string& group) const;

 private:
  Kind kind_ = Kind::kRlimit;
  std::string memory_base_;  // v1: …/memory/<ours>/aimass-jobs; v2: the one base
  std::string cpu_base_;     // v1 only
  std::vector<std::string> Dirs(const std::string& group) const;
};

}  // namespace aimass::cluster
