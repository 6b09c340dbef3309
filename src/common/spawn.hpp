// Spawn: starting a child process the way the platform starts commands and jobs: stdin from
// /dev/null, stdout and stderr to one descriptor, no other descriptor of the server (a
// listening socket inherited by a child would keep its port), default signal dispositions and
// an empty signal mask, only the environment given (the server's may hold secrets).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass {

struct SpawnOptions {
  int output_fd = -1;      // stdout and stderr; -1: /dev/null
  std::string chdir;       // empty: the server's working directory
  bool own_group = false;  // a process group of its own (numbered as its pid), for killing trees
  int pass_fd = -1;        // given to the child as its descriptor 3 (bwrap --args 3); -1: none
};

// posix_spawn of argv[0] (a full path) with `env` ("NAME=value"); the child's pid.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const SpawnOptions& options);

}  // namespace aimass
