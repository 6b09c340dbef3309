// Civil time for the cube's time hierarchy (UTC): a timestamp's key at each level (year ›
// quarter › month › week › day › hour, and the cyclic weekday and hour of day), how a key is
// written and read back, and how keys move by a period. Keys are plain integers that order like
// time: months since year 0, days and hours since the Unix epoch, Monday-started weeks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aimass::olap {

enum class TimeLevel : uint8_t { kYear, kQuarter, kMonth, kWeek, kDay, kHour, kWeekday, kHourOfDay };

std::optional<TimeLevel> ParseTimeLevel(std::string_view name);
std::string_view TimeLevelName(TimeLevel level);
// year › quarter › month › week › day › hour; the cyclic levels have no place in it.
bool IsHierarchical(TimeLevel level);
// The level one step finer / coarser along the hierarchy, if any.
std::optional<TimeLevel> FinerLevel(TimeLevel level);
std::optional<TimeLevel> CoarserLevel(TimeLevel level);

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
void CivilFromDays(int64_t days, int64_t* y, unsigned* m, unsigned* d);
inline int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The key of `unix_seconds` at `level`.
int64_t LevelKey(TimeLevel level, int64_t unix_seconds);
// The first second of the period a key names (the cyclic levels have none: 0).
int64_t KeyStart(TimeLevel level, int64_t key);
// How a key is written: 2011, 2011-Q1, 2011-01, 2010-11-29 (a week by its Monday), 2011-01-04,
// 2011-01-04T10:00, weekday 1-7 (Monday 1, ISO), hour of day 0-23.
std::string RenderKey(TimeLevel level, int64_t key);
// The inverse of RenderKey, also taking any timestamp in the period (2011-03-05 as a month is
// 2011-03). nullopt when the text is not a time.
std::optional<int64_t> ParseKey(TimeLevel level, std::string_view text);
// A timestamp written as RFC 3339, a date (2011-01-04), a date and time without a zone (UTC),
// a year (2011), a month (2011-03) or whole Unix seconds; the first second it names.
std::optional<int64_t> ParseTime(std::string_view text);

// A period-over-period shift: one period of the level back, or one year back (52 weeks for a
// week, so that weekdays line up).
enum class Shift : uint8_t { kPreviousPeriod, kPreviousYear };
int64_t ShiftKey(TimeLevel level, int64_t key, Shift shift);
// `unix_seconds` moved back as ShiftKey moves a key of `level`.
int64_t ShiftTime(TimeLevel level, int64_t unix_seconds, Shift shift);

}  // namespace aimass::olap
