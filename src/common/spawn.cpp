#include "common/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <cstring>

namespace aimass {

Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const SpawnOptions& o) {
  if (argv.empty()) return Status::Internal("nothing to spawn");
  std::vector<std::string> a = argv, e = env;
  std::vector<char*> args, envp;
  for (auto& s : a) args.push_back(s.data());
  args.push_back(nullptr);
  for (auto& s : e) envp.push_back(s.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (o.output_fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, o.output_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, o.output_fd, 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  if (o.pass_fd >= 0) posix_spawn_file_actions_adddup2(&fa, o.pass_fd, 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, o.pass_fd >= 0 ? 4 : 3);
  if (!o.chdir.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.chdir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (o.own_group) flags |= POSIX_SPAWN_SETPGROUP;
  posix_spawnattr_setflags(&attr, flags);
  if (o.own_group) posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Internal("cannot start " + argv[0] + ": " + strerror(rc));
  return pid;
}

}  // namespace aimass
