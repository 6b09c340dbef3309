// Wall-clock helpers shared by modules: unix time and RFC 3339 rendering.
#pragma once

#include <cstdint>
#include <string>

namespace aimass {

int64_t UnixNow();
int64_t UnixNowMs();
// 2026-11-28T02:00:00Z; "" for 0 (never).
std::string Rfc3339(int64_t unix_seconds);
// 2026-11-28T02:00:00.123Z
std::string Rfc3339Ms(int64_t unix_ms);

}  // namespace aimass
