// Names the calling thread, so that `top -H`, `ps -L`, perf and gdb tell a server's threads
// apart (HTTP I/O, inference executors, background loops) instead of showing them all as
// "aimass".
#pragma once

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace aimass {

// Linux keeps 15 bytes of a thread's name; longer names are cut there.
void NameThisThread(std::string_view name);

// A thread that names itself `name`, then runs `f`.
template <typename F>
std::thread NamedThread(std::string name, F f) {
  return std::thread([name = std::move(name), f = std::move(f)]() mutable {
    NameThisThread(name);
    f();
  });
}

}  // namespace aimass
