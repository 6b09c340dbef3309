// How many CPUs this process may run on, for sizing thread pools.
#pragma once

namespace aimass {

// The CPUs in this process's affinity mask (what `taskset` or a cpuset cgroup leaves it), at
// least 1. std::thread::hardware_concurrency() counts every CPU of the machine instead, and a
// server confined to one of two cores then runs two I/O threads that take turns on it (measured
// 8% fewer batched inference requests per second than with one; docs/benchmarks.md).
int UsableCpus();

}  // namespace aimass
