// Failpoints: named steps of the durable writes where a test makes the process crash, fail the
// step with an I/O error, or pause there (`AIMASS_FAILPOINTS="blob.before_rename=crash"`, or
// the admin API when `failpoints_api` is on). Compiled into every build; while no point is
// armed, a point costs one relaxed load and a branch predicted not taken.
//
// Every point is listed in Points() with what it guards (failpoint.cpp); arming a name that is
// not there is an error, so a test cannot arm a point that no longer exists and pass.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::failpoint {

struct PointInfo {
  std::string_view name;
  std::string_view guards;  // the write step it sits at, and what a crash there leaves
};

// Every point the code has.
std::span<const PointInfo> Points();

// Arms points from "name=action[;name=action…]". An action is `[N*]kind[(arg)]`:
//   off                  disarmed
//   crash                SIGKILL to the process, at once (nothing flushed, as a power cut
//                        leaves the process's memory)
//   error | error(ENAME) the step fails as if its system call had failed with that errno
//                        (EIO when none is named; ENOSPC, EDQUOT, EROFS, ENOMEM also known)
//   pause                the thread stops there until the point is set to something else
//   sleep(MS)            the thread stops there for MS milliseconds
// `N*` fires the action at the next N hits only, then the point is off.
Status Configure(std::string_view spec);
Status Set(std::string_view name, std::string_view action);
// Disarms one point (a paused thread goes on).
Status Clear(std::string_view name);
// Disarms every point.
void ClearAll();

struct State {
  std::string name;
  std::string guards;
  std::string action;  // "off" when not armed
  int64_t hits = 0;    // times a thread reached the point while it was armed
};
std::vector<State> List();

namespace internal {
extern std::atomic<bool> g_armed;  // some point is armed
int Hit(std::string_view name);
}  // namespace internal

// An error Status for a failed system call (or an injected one): disk full answers 507
// insufficient_storage, anything else 500 internal; the message names the step and errno.
Status IoError(std::string_view what, int err);

}  // namespace aimass::failpoint

// Evaluates to 0 when the step may go on, or to the errno the step must fail with. A crash or
// pause happens inside. (AIMASS_NO_FAILPOINTS, CMake's AIMASS_FAILPOINTS=OFF, exists only to
// measure what the points cost.)
#ifdef AIMASS_NO_FAILPOINTS
#define AIMASS_FAILPOINT(name) 0
#else
#define AIMASS_FAILPOINT(name)                                                                   \
  (__builtin_expect(::aimass::failpoint::internal::g_armed.load(std::memory_order_relaxed), 0) \
       ? ::aimass::failpoint::internal::Hit(name)                                                \
       : 0)
#endif
