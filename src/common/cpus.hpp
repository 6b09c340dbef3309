// How many CPUs this process may run on, for sizing thread pools.
#pragma once

namespace aimass {

// The CPUs in this process's affinity mask (what `taskset` or a cpuset cgroup leaves it), at
// least 1. std::thread::hardware_concurrency() counts every CPU of the machine instead, and a
// server confined to one of two cores then ran two I/O threads taking turns on it (one served
// 1.08x the batched inference requests; decision 67).
int UsableCpus();

}  // namespace aimass
