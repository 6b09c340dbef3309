// UsableCpus sizes the server's thread pools: it must follow the affinity mask (taskset, cpuset
// cgroups), not the machine's CPU count.
#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

#include "common/cpus.hpp"

namespace aimass {
namespace {

TEST(CpusTest, CountsTheCpusOfTheAffinityMask) {
  cpu_set_t mine;
  CPU_ZERO(&mine);
  ASSERT_EQ(sched_getaffinity(0, sizeof(mine), &mine), 0);
  EXPECT_EQ(UsableCpus(), CPU_COUNT(&mine));

  // A thread confined to one CPU (sched_getaffinity(0) reads the calling thread's mask) sees
  // one, whatever the machine has.
  int first = 0;
  while (!CPU_ISSET(first, &mine)) ++first;
  int seen = 0;
  std::thread confined([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof(one), &one) == 0) seen = UsableCpus();
  });
  confined.join();
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace aimass
