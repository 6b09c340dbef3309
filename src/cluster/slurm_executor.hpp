// SlurmExecutor: hands attempts to a Slurm cluster with its commands (sbatch, squeue, scontrol,
// scancel), the job's resources as sbatch options, its output appended to the job's log (a
// path Slurm's nodes must share with this process), and follows them until they end. Slurm
// queues and places them; aimass enforces the job's timeout itself (scancel) and keeps
// --time as a backstop. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster.hpp"
#include "cluster/executor.hpp"

namespace aimass::cluster {

struct SlurmExecutorOptions {
  SlurmOptions slurm;
  std::string jobs_dir;
  int64_t poll_ms = 500;
  Executor::Done done;
  Executor::Started started;
};

std::unique_ptr<Executor> MakeSlurmExecutor(SlurmExecutorOptions options);

// One job's line of `squeue -h -t all -o "%i|%T|%r"` or the fields of `scontrol -o show job`:
// what the executor reads (pure functions, unit-tested).
struct SlurmJobState {
  std::string id, state, reason;
  int exit_code = -1, signal = 0;
};
std::vector<SlurmJobState> ParseSqueue(const std::string& out);
SlurmJobState ParseScontrolJob(const std::string& out);
// A POSIX shell word for `arg` (single-quoted), for sbatch --wrap.
std::string ShellQuote(const std::string& arg);
// The sbatch command line for attempt `job.attempts` of `job`.
std::vector<std::string> SbatchArgv(const SlurmOptions& o, const Job& job, const std::string& log_path,
                                    const std::string& workdir);
// How a finished Slurm state ends the attempt (nullopt while it is pending or running).
std::optional<Outcome> SlurmOutcome(const SlurmJobState& s);

}  // namespace aimass::cluster
