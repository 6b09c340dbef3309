// Sandbox: the bubblewrap command line a sandboxed job runs under: the system read-only
// (/usr and what programs need from /etc) and the aimass binary's own file (built-in pipeline
// steps run it), its own writable work directory and /tmp, fresh
// /proc and /dev, every namespace unshared (no network unless asked), nothing else of the
// host: not the data directory, not the other jobs, not /home or /root.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace aimass::cluster {

// Whether `bwrap` exists here and can make its namespaces (a quick run of /bin/true).
bool SandboxWorks();

// Where a sandboxed job finds its work directory (and HOME): the host's path is not shown.
inline constexpr const char* kSandboxWorkdir = "/job";

// The argv before the job's own: bwrap … (workdir bound at /job) --chdir /job --. The job's
// environment is set inside the sandbox only (--clearenv, --setenv): bwrap and the wrapper
// that starts it run outside, where LD_PRELOAD and the like would act on the host. The GPUs
// given (indexes) get their /dev/nvidia* devices, with the driver's control devices. With
// `env_fd` >= 0 the --setenv pairs are not in the argv (which every local user can read in
// /proc: a job's env holds its token and secrets) but read by bwrap from that descriptor
// (`--args`), which must then hold SandboxEnvArgs(env).
std::vector<std::string> SandboxArgv(const std::string& workdir, bool network,
                                     const std::map<std::string, std::string>& env = {},
                                     const std::vector<int>& gpus = {}, int env_fd = -1);
// The --setenv arguments of `env`, NUL-separated, as bwrap's --args reads them.
std::string SandboxEnvArgs(const std::map<std::string, std::string>& env);

}  // namespace aimass::cluster
