// Names the calling thread, so that `top -H`, `ps -L`, perf and gdb tell a server's threads
// apart (HTTP I/O, inference executors, background loops) instead of showing them all as
// "aimass".
#pragma once

#include <string_view>

namespace aimass {

// Linux keeps 15 bytes of a thread's name; longer names are cut there.
void NameThisThread(std::string_view name);

}  // namespace aimass
