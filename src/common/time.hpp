// Wall-clock helpers shared by modules: unix time and RFC 3339 rendering.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aimass {

int64_t UnixNow();
int64_t UnixNowMs();
// 2026-11-28T02:00:00Z; "" for 0 (never).
std::string Rfc3339(int64_t unix_seconds);
// 2026-11-28T02:00:00.123Z
std::string Rfc3339Ms(int64_t unix_ms);
// Unix milliseconds of an RFC 3339 time (2026-11-28T02:00:00.123Z, …+01:00, a space for the T,
// no zone meaning UTC) or a date (2026-11-28); nullopt for anything else.
std::optional<int64_t> ParseRfc3339Ms(std::string_view text);

}  // namespace aimass
