// LocalExecutor: runs attempts as process trees on this machine. Each attempt is a small
// /bin/sh wrapper in its own process group that joins the attempt's cgroup, runs the command
// (under bubblewrap when sandboxed) with stdout and stderr appended to the job's log, and
// writes the exit status to a file before it exits. The wrapper does not depend on aimass, so
// a job outlives a restart of aimass and is adopted afterwards (pid and start time checked).
// Ends are seen through pidfds in one thread. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "cluster/executor.hpp"
#include "cluster/limits.hpp"

namespace aimass::cluster {

struct LocalExecutorOptions {
  std::string jobs_dir;        // <jobs_dir>/<id>/{log,exit-<attempt>,work/}
  // Names this node's cgroups apart from other aimass processes' on the same host (their job
  // ids overlap): the node's instance, kept with its jobs directory.
  std::string group_prefix;
  Limits limits;
  bool sandbox_works = false;  // sandboxed jobs are refused at Start without it
  int64_t kill_grace_ms = 3000;  // SIGTERM, then SIGKILL after this
  Executor::Done done;
};

std::unique_ptr<Executor> MakeLocalExecutor(LocalExecutorOptions options);

// The files of job `id` (shared with the API, which reads logs).
std::string JobDir(const std::string& jobs_dir, int64_t id);
std::string JobLogPath(const std::string& jobs_dir, int64_t id);

}  // namespace aimass::cluster
