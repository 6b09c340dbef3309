// Schedule: a parsed cron expression bound to an IANA time zone, and the one question the
// scheduler asks of it — when is the next run after a given instant?
//
// The expression matches wall-clock (civil) times in the zone, as Vixie cron and Kubernetes
// CronJob users expect. Daylight-saving transitions are resolved so that every matching
// civil time runs exactly once:
//   - a civil time that happens twice (fall back) runs at its first occurrence only;
//   - a civil time that never happens (spring forward) runs at the transition instant, and
//     several such times in one gap run once between them.
//
// Syntax: 5 fields "min hour dom month dow" (runs at second 0) or 6 fields
// "sec min hour dom month dow", or one of @yearly/@annually, @monthly, @weekly,
// @daily/@midnight, @hourly. A field is a comma list of items; an item is *, ?, a value,
// a range a-b, each optionally with a step /n (a/n means a to the field's maximum).
// Months take JAN-DEC and days of the week SUN-SAT, in any case; day of week 7 is Sunday.
// When day of month and day of week are both restricted (neither starts with * or ?), a
// day matches if either does; otherwise both must.
//
// A Schedule is immutable and cheap to copy; NextAfter may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "common/status.hpp"

namespace aimass::scheduler {

class Schedule {
 public:
  // Parses `expression` in `time_zone` ("Europe/Berlin"; "" means UTC). Bad input is
  // BadRequest with a message naming the field and the offending token.
  static Result<Schedule> Parse(const std::string& expression, const std::string& time_zone);

  // The first run strictly after `after_unix_ms`, in unix milliseconds (always a whole
  // second); nullopt when there is none within five years ("0 0 30 2 *").
  std::optional<int64_t> NextAfter(int64_t after_unix_ms) const;

  const std::string& expression() const;
  // The zone name as resolved: "UTC" when Parse was given "".
  const std::string& time_zone() const;
  // True for 6-field expressions, whose runs may fall on any second.
  bool has_seconds() const;

 private:
  struct Impl;  // the expanded fields and the loaded zone; keeps absl out of this header
  explicit Schedule(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

  std::shared_ptr<const Impl> impl_;
};

}  // namespace aimass::scheduler
