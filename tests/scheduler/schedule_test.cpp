#include "scheduler/schedule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace aimass::scheduler {
namespace {

// Unix milliseconds of a UTC civil time; computed with <chrono>, not with absl, so the
// tests do not check the implementation against itself.
int64_t Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  const sys_days date = year{y} / month{mo} / day{d};
  const auto t = date + hours{h} + minutes{mi} + seconds{s};
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

std::string Show(std::optional<int64_t> ms) {
  if (!ms) return "none";
  std::time_t t = static_cast<std::time_t>(*ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf) + (*ms % 1000 ? " +" + std::to_string(*ms % 1000) + "ms" : "");
}

Schedule ParseOrDie(const std::string& expr, const std::string& zone = "") {
  Result<Schedule> r = Schedule::Parse(expr, zone);
  EXPECT_TRUE(r.ok()) << expr << " in '" << zone << "': " << r.status().ToString();
  if (!r.ok()) return *Schedule::Parse("* * * * *", "");
  return *r;
}

// The first `n` runs after `from`, each the NextAfter of the one before.
std::vector<std::string> Runs(const Schedule& s, int64_t from, int n) {
  std::vector<std::string> out;
  std::optional<int64_t> t = from;
  for (int i = 0; i < n; ++i) {
    t = s.NextAfter(*t);
    out.push_back(Show(t));
    if (!t) break;
  }
  return out;
}

std::string Next(const std::string& expr, int64_t from, const std::string& zone = "") {
  return Show(ParseOrDie(expr, zone).NextAfter(from));
}

// Parse must fail with bad_request and a message containing `want`.
void ExpectBad(const std::string& expr, const std::string& want, const std::string& zone = "") {
  Result<Schedule> r = Schedule::Parse(expr, zone);
  ASSERT_FALSE(r.ok()) << "'" << expr << "' parsed";
  EXPECT_EQ(r.status().code(), Code::kBadRequest) << expr;
  EXPECT_NE(r.status().message().find(want), std::string::npos)
      << "'" << expr << "': " << r.status().message() << " (want '" << want << "')";
}

TEST(Schedule, HelperAgreesWithDate) {
  // date -u -d 2026-10-25T00:30:00Z +%s
  EXPECT_EQ(Utc(2026, 10, 25, 0, 30), 1792888200000);
  EXPECT_EQ(Utc(2028, 2, 29), 1835395200000);
  EXPECT_EQ(Show(1792888200000), "2026-10-25T00:30:00Z");
}

TEST(Schedule, Accessors) {
  Schedule s = ParseOrDie("0 9 * * MON-FRI", "Europe/Berlin");
  EXPECT_EQ(s.expression(), "0 9 * * MON-FRI");
  EXPECT_EQ(s.time_zone(), "Europe/Berlin");
  EXPECT_FALSE(s.has_seconds());
  Schedule u = ParseOrDie("*/5 * * * * *");
  EXPECT_EQ(u.time_zone(), "UTC");
  EXPECT_TRUE(u.has_seconds());
  Schedule copy = u;  // cheap, shares the parsed form
  EXPECT_EQ(copy.NextAfter(Utc(2026, 1, 1)), Utc(2026, 1, 1, 0, 0, 5));
}

TEST(Schedule, Values) {
  const int64_t from = Utc(2026, 1, 1);  // a Thursday
  EXPECT_EQ(Next("15 10 * * *", from), "2026-01-01T10:15:00Z");
  EXPECT_EQ(Next("05 7 * * *", from), "2026-01-01T07:05:00Z");  // leading zero
  EXPECT_EQ(Next("0 0 15 * *", from), "2026-01-15T00:00:00Z");
  EXPECT_EQ(Next("0 0 1 3 *", from), "2026-03-01T00:00:00Z");
  EXPECT_EQ(Next("30 15 10 * * *", from), "2026-01-01T10:15:30Z");
}

TEST(Schedule, ListsRangesSteps) {
  const int64_t from = Utc(2026, 1, 1);
  EXPECT_EQ(Runs(ParseOrDie("5,20,40 0 * * *"), from, 4),
            (std::vector<std::string>{"2026-01-01T00:05:00Z", "2026-01-01T00:20:00Z",
                                      "2026-01-01T00:40:00Z", "2026-01-02T00:05:00Z"}));
  EXPECT_EQ(Runs(ParseOrDie("0 22-23 * * *"), from, 3),
            (std::vector<std::string>{"2026-01-01T22:00:00Z", "2026-01-01T23:00:00Z",
                                      "2026-01-02T22:00:00Z"}));
  EXPECT_EQ(Runs(ParseOrDie("*/20 0 * * *"), from, 4),
            (std::vector<std::string>{"2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z",
                                      "2026-01-02T00:00:00Z", "2026-01-02T00:20:00Z"}));
  EXPECT_EQ(Runs(ParseOrDie("10-30/10 1 * * *"), from, 4),
            (std::vector<std::string>{"2026-01-01T01:10:00Z", "2026-01-01T01:20:00Z",
                                      "2026-01-01T01:30:00Z", "2026-01-02T01:10:00Z"}));
  // a/n runs from a to the end of the field.
  EXPECT_EQ(Runs(ParseOrDie("45/5 2 * * *"), from, 4),
            (std::vector<std::string>{"2026-01-01T02:45:00Z", "2026-01-01T02:50:00Z",
                                      "2026-01-01T02:55:00Z", "2026-01-02T02:45:00Z"}));
  // Mixed list of a value, a range and a stepped range.
  EXPECT_EQ(Runs(ParseOrDie("0 1,3-4,20-23/2 * * *"), from, 6),
            (std::vector<std::string>{"2026-01-01T01:00:00Z", "2026-01-01T03:00:00Z",
                                      "2026-01-01T04:00:00Z", "2026-01-01T20:00:00Z",
                                      "2026-01-01T22:00:00Z", "2026-01-02T01:00:00Z"}));
  // Overlapping items are just the union.
  EXPECT_EQ(Runs(ParseOrDie("0 0 1,1-2,2 * *"), from, 3),
            (std::vector<std::string>{"2026-01-02T00:00:00Z", "2026-02-01T00:00:00Z",
                                      "2026-02-02T00:00:00Z"}));
  // Step larger than the span left: just the start.
  EXPECT_EQ(Next("0 0 1 */12 *", from), "2027-01-01T00:00:00Z");
}

TEST(Schedule, MonthAndDayNames) {
  const int64_t from = Utc(2026, 1, 1);  // Thursday
  EXPECT_EQ(Next("0 0 1 MAR *", from), "2026-03-01T00:00:00Z");
  EXPECT_EQ(Next("0 0 1 mar *", from), "2026-03-01T00:00:00Z");
  EXPECT_EQ(Runs(ParseOrDie("0 0 1 jun-Aug *"), from, 4),
            (std::vector<std::string>{"2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z",
                                      "2026-08-01T00:00:00Z", "2027-06-01T00:00:00Z"}));
  EXPECT_EQ(Runs(ParseOrDie("0 0 1 JAN,JUL/3 *"), from, 4),  // JAN, then JUL, OCT
            (std::vector<std::string>{"2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z",
                                      "2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"}));
  EXPECT_EQ(Next("0 9 * * mon", from), "2026-01-05T09:00:00Z");
  EXPECT_EQ(Runs(ParseOrDie("0 9 * * MON-FRI"), from, 4),
            (std::vector<std::string>{"2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z",
                                      "2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}));
  EXPECT_EQ(Runs(ParseOrDie("0 9 * * Sat,SUN"), from, 3),
            (std::vector<std::string>{"2026-01-03T09:00:00Z", "2026-01-04T09:00:00Z",
                                      "2026-01-10T09:00:00Z"}));
}

TEST(Schedule, SundayIsZeroOrSeven) {
  const int64_t from = Utc(2026, 1, 1);  // Thursday; Sunday is 2026-01-04
  EXPECT_EQ(Next("0 0 * * 0", from), "2026-01-04T00:00:00Z");
  EXPECT_EQ(Next("0 0 * * 7", from), "2026-01-04T00:00:00Z");
  EXPECT_EQ(Next("0 0 * * SUN", from), "2026-01-04T00:00:00Z");
  // 5-7 is Friday to Sunday.
  EXPECT_EQ(Runs(ParseOrDie("0 0 * * 5-7"), from, 4),
            (std::vector<std::string>{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z",
                                      "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"}));
  // * means 0-6 in day of week, so */2 is Sun, Tue, Thu, Sat and Sunday is not doubled.
  EXPECT_EQ(Runs(ParseOrDie("0 0 * * */2"), from, 5),
            (std::vector<std::string>{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
                                      "2026-01-06T00:00:00Z", "2026-01-08T00:00:00Z",
                                      "2026-01-10T00:00:00Z"}));
}

TEST(Schedule, QuestionMarkIsStar) {
  const int64_t from = Utc(2026, 1, 1);
  EXPECT_EQ(Next("0 12 ? * MON", from), "2026-01-05T12:00:00Z");
  EXPECT_EQ(Next("0 12 15 * ?", from), "2026-01-15T12:00:00Z");
  EXPECT_EQ(Next("0 ? * * *", from), "2026-01-01T01:00:00Z");
}

TEST(Schedule, Macros) {
  const int64_t from = Utc(2026, 5, 13, 10, 20);  // a Wednesday
  EXPECT_EQ(Next("@yearly", from), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Next("@annually", from), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Next("@monthly", from), "2026-06-01T00:00:00Z");
  EXPECT_EQ(Next("@weekly", from), "2026-05-17T00:00:00Z");
  EXPECT_EQ(Next("@daily", from), "2026-05-14T00:00:00Z");
  EXPECT_EQ(Next("@midnight", from), "2026-05-14T00:00:00Z");
  EXPECT_EQ(Next("@hourly", from), "2026-05-13T11:00:00Z");
  EXPECT_EQ(Next("  @Daily ", from), "2026-05-14T00:00:00Z");
  EXPECT_FALSE(ParseOrDie("@hourly").has_seconds());
  // Macros follow the zone like any expression: midnight in Berlin (CEST) is 22:00Z.
  EXPECT_EQ(Next("@daily", from, "Europe/Berlin"), "2026-05-13T22:00:00Z");
}

TEST(Schedule, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // Vixie cron: the 13th of the month OR any Friday.
  const int64_t from = Utc(2026, 2, 1);  // Sunday
  EXPECT_EQ(Runs(ParseOrDie("0 0 13 * 5"), from, 5),
            (std::vector<std::string>{"2026-02-06T00:00:00Z",
                                      "2026-02-13T00:00:00Z",  // both: the 13th is a Friday
                                      "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z",
                                      "2026-03-06T00:00:00Z"}));
  EXPECT_EQ(Runs(ParseOrDie("0 0 1,15 * MON"), from, 4),
            (std::vector<std::string>{"2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z",
                                      "2026-02-15T00:00:00Z", "2026-02-16T00:00:00Z"}));
  // A stepped star still starts with '*', so it counts as unrestricted (Vixie's rule):
  // every other day of month AND Monday.
  EXPECT_EQ(Runs(ParseOrDie("0 0 */2 * MON"), from, 3),
            (std::vector<std::string>{"2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z",
                                      "2026-03-09T00:00:00Z"}));
}

TEST(Schedule, DayOfMonthAndDayOfWeekWhenOneIsStar) {
  const int64_t from = Utc(2026, 2, 1);
  // dow is *: only the 13th.
  EXPECT_EQ(Runs(ParseOrDie("0 0 13 * *"), from, 2),
            (std::vector<std::string>{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"}));
  // dom is *: only Fridays.
  EXPECT_EQ(Runs(ParseOrDie("0 0 * * FRI"), from, 2),
            (std::vector<std::string>{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z"}));
  // dom is ?: the same.
  EXPECT_EQ(Runs(ParseOrDie("0 0 ? * FRI"), from, 2),
            (std::vector<std::string>{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z"}));
}

TEST(Schedule, BadFieldCount) {
  ExpectBad("* * * *", "has 4 fields");
  ExpectBad("* * * * * * *", "has 7 fields");
  ExpectBad("", "empty");
  ExpectBad("   ", "empty");
}

TEST(Schedule, OutOfRange) {
  ExpectBad("0 25 * * *", "cron field 'hour': 25 is out of range 0-23");
  ExpectBad("60 * * * *", "cron field 'minute': 60 is out of range 0-59");
  ExpectBad("60 * * * * *", "cron field 'second': 60 is out of range 0-59");
  ExpectBad("0 0 0 * *", "cron field 'day of month': 0 is out of range 1-31");
  ExpectBad("0 0 32 * *", "cron field 'day of month': 32 is out of range 1-31");
  ExpectBad("0 0 * 13 *", "cron field 'month': 13 is out of range 1-12");
  ExpectBad("0 0 * 0 *", "cron field 'month': 0 is out of range 1-12");
  ExpectBad("0 0 * * 8", "cron field 'day of week': 8 is out of range 0-7");
  ExpectBad("0 0-24 * * *", "cron field 'hour': 24 is out of range 0-23");
  ExpectBad("99999999999999999999 * * * *",
            "cron field 'minute': 99999999999999999999 is out of range");
  ExpectBad("*/61 * * * *", "cron field 'minute': step 61 in '*/61' is out of range 1-60");
}

TEST(Schedule, BadStep) {
  ExpectBad("*/0 * * * *", "cron field 'minute': step 0 in '*/0' is out of range");
  ExpectBad("0 1-5/0 * * *", "cron field 'hour': step 0");
  ExpectBad("*/x * * * *", "cron field 'minute': step 'x' in '*/x' is not a number");
  ExpectBad("*/ * * * *", "cron field 'minute': step ''");
  ExpectBad("*/2/3 * * * *", "cron field 'minute'");
}

TEST(Schedule, ReversedRange) {
  ExpectBad("0 5-2 * * *", "cron field 'hour': range '5-2' is reversed");
  ExpectBad("0 0 * DEC-JAN *", "cron field 'month': range 'DEC-JAN' is reversed");
  ExpectBad("0 0 * * FRI-MON", "cron field 'day of week': range 'FRI-MON' is reversed");
}

TEST(Schedule, Garbage) {
  ExpectBad("abc * * * *", "cron field 'minute': 'abc' is not a valid value");
  ExpectBad("0 0 * * MONDAY", "cron field 'day of week': 'MONDAY' is not a valid value");
  ExpectBad("0 0 * MON *", "cron field 'month': 'MON' is not a valid value");
  ExpectBad("0 0 * * JAN", "cron field 'day of week': 'JAN' is not a valid value");
  ExpectBad("0 JAN * * *", "cron field 'hour': 'JAN' is not a valid value");
  ExpectBad("1,,2 * * * *", "cron field 'minute': empty list item in '1,,2'");
  ExpectBad("1, * * * *", "cron field 'minute': empty list item");
  ExpectBad("5- * * * *", "cron field 'minute': '5-' is not a valid range");
  ExpectBad("-5 * * * *", "cron field 'minute': '-5' is not a valid range");
  ExpectBad("1-2-3 * * * *", "cron field 'minute': '2-3' is not a valid value");
  ExpectBad("0 0 * * 1.5", "cron field 'day of week': '1.5' is not a valid value");
  ExpectBad("@every 5m", "unknown cron macro '@every'");
  ExpectBad("@daily 5", "unknown cron macro '@daily'");
  ExpectBad("@reboot", "unknown cron macro '@reboot'");
}

TEST(Schedule, UnknownTimeZone) {
  ExpectBad("* * * * *", "unknown time zone 'Mars/Olympus'", "Mars/Olympus");
  ExpectBad("* * * * *", "unknown time zone 'CEST'", "CEST");
  ExpectBad("* * * * *", "unknown time zone '../../etc/passwd'", "../../etc/passwd");
  ExpectBad("* * * * *", "unknown time zone '/etc/localtime'", "/etc/localtime");
  ExpectBad("* * * * *", "unknown time zone 'Europe//Berlin'", "Europe//Berlin");
  ExpectBad("* * * * *", "unknown time zone", std::string(300, 'A'));
  // Known zones, including the default.
  EXPECT_TRUE(Schedule::Parse("* * * * *", "America/New_York").ok());
  EXPECT_TRUE(Schedule::Parse("* * * * *", "UTC").ok());
  EXPECT_TRUE(Schedule::Parse("* * * * *", "").ok());
}

TEST(Schedule, TooLong) {
  std::string expr = "0 0 * * " + std::string(250, '1');
  ASSERT_GT(expr.size(), 256u);
  ExpectBad(expr, "longer than 256 characters");
  // At the cap is fine as far as length goes: padding with spaces.
  std::string padded = "0 0 * * *" + std::string(256 - 9, ' ');
  EXPECT_TRUE(Schedule::Parse(padded, "").ok());
}

TEST(Schedule, StrictlyAfter) {
  Schedule s = ParseOrDie("0 * * * *");
  EXPECT_EQ(s.NextAfter(Utc(2026, 1, 1, 10)), Utc(2026, 1, 1, 11));
  EXPECT_EQ(s.NextAfter(Utc(2026, 1, 1, 10) - 1), Utc(2026, 1, 1, 10));
  EXPECT_EQ(s.NextAfter(Utc(2026, 1, 1, 10) + 500), Utc(2026, 1, 1, 11));
  // Before 1970 too (negative unix ms floors to the earlier second).
  EXPECT_EQ(s.NextAfter(-1), 0);
  EXPECT_EQ(s.NextAfter(-3600 * 1000), 0);
}

TEST(Schedule, UtcMonthAndYearEnds) {
  EXPECT_EQ(Next("0 0 * * *", Utc(2026, 1, 31, 23, 59, 30)), "2026-02-01T00:00:00Z");
  EXPECT_EQ(ParseOrDie("0 0 * * *").NextAfter(Utc(2026, 1, 31, 23, 59, 30)), 1769904000000);
  EXPECT_EQ(Next("0 0 * * *", Utc(2026, 12, 31, 23)), "2027-01-01T00:00:00Z");
  EXPECT_EQ(ParseOrDie("0 0 * * *").NextAfter(Utc(2026, 12, 31, 23)), 1798761600000);
  EXPECT_EQ(Next("0 0 31 * *", Utc(2026, 1, 31, 1)), "2026-03-31T00:00:00Z");  // Feb has none
  EXPECT_EQ(Next("59 23 31 12 *", Utc(2026, 6, 1)), "2026-12-31T23:59:00Z");
  EXPECT_EQ(Next("0 0 1 * *", Utc(2026, 12, 15)), "2027-01-01T00:00:00Z");
  EXPECT_EQ(Runs(ParseOrDie("0 0 30 * *"), Utc(2026, 1, 30, 12), 3),
            (std::vector<std::string>{"2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z",
                                      "2026-05-30T00:00:00Z"}));
}

TEST(Schedule, LeapDay) {
  Schedule s = ParseOrDie("0 0 29 2 *");
  EXPECT_EQ(s.NextAfter(Utc(2026, 3, 1)), Utc(2028, 2, 29));
  EXPECT_EQ(s.NextAfter(Utc(2026, 3, 1)), 1835395200000);
  EXPECT_EQ(s.NextAfter(Utc(2028, 2, 29)), Utc(2032, 2, 29));
  EXPECT_EQ(s.NextAfter(Utc(2028, 2, 29)), 1961625600000);
  EXPECT_EQ(Next("0 0 * * *", Utc(2028, 2, 28, 12)), "2028-02-29T00:00:00Z");
  EXPECT_EQ(Next("0 0 1 3 *", Utc(2028, 2, 28, 12)), "2028-03-01T00:00:00Z");
  // 2100 is not a leap year: the next Feb 29 after 2096 is beyond five years.
  EXPECT_EQ(s.NextAfter(Utc(2096, 3, 1)), std::nullopt);
}

TEST(Schedule, NeverRuns) {
  EXPECT_EQ(ParseOrDie("0 0 30 2 *").NextAfter(Utc(2026, 1, 1)), std::nullopt);
  EXPECT_EQ(ParseOrDie("0 0 31 4,6,9,11 *").NextAfter(Utc(2026, 1, 1)), std::nullopt);
  // With the OR rule the impossible day of month still runs on the named weekday, in the
  // named month: the first Monday of February.
  EXPECT_EQ(Next("0 0 30 2 MON", Utc(2026, 1, 1)), "2026-02-02T00:00:00Z");
}

TEST(Schedule, EverySecond) {
  Schedule s = ParseOrDie("* * * * * *");
  const int64_t from = Utc(2026, 12, 31, 23, 59, 58);
  EXPECT_EQ(Runs(s, from, 4),
            (std::vector<std::string>{"2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z",
                                      "2027-01-01T00:00:01Z", "2027-01-01T00:00:02Z"}));
  EXPECT_EQ(s.NextAfter(from + 999), from + 1000);
  EXPECT_EQ(Runs(ParseOrDie("*/20 * * * * *"), Utc(2026, 1, 1, 0, 0, 5), 4),
            (std::vector<std::string>{"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z",
                                      "2026-01-01T00:01:00Z", "2026-01-01T00:01:20Z"}));
}

// Europe/Berlin falls back on 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z, so
// 02:00-02:59 happens twice (00:00-00:59Z and 01:00-01:59Z).
TEST(Schedule, BerlinFallBackRunsRepeatedTimeOnce) {
  Schedule s = ParseOrDie("30 2 * * *", "Europe/Berlin");
  const std::optional<int64_t> first = s.NextAfter(Utc(2026, 10, 24, 12));
  EXPECT_EQ(first, 1792888200000) << Show(first);  // 2026-10-25T00:30:00Z, 02:30 CEST
  ASSERT_TRUE(first);
  const std::optional<int64_t> second = s.NextAfter(*first);
  EXPECT_EQ(second, 1792978200000) << Show(second);  // 2026-10-26T01:30:00Z, 02:30 CET
  EXPECT_NE(second, Utc(2026, 10, 25, 1, 30));        // not the repeat at 02:30 CET
  // Asking from inside the repeated hour's first pass, before 02:30: still the first one.
  EXPECT_EQ(s.NextAfter(Utc(2026, 10, 25, 0, 10)), 1792888200000);
  // From inside the second pass (02:10 CET), even before the second 02:30: next day.
  EXPECT_EQ(s.NextAfter(Utc(2026, 10, 25, 1, 10)), 1792978200000);
}

TEST(Schedule, BerlinFallBackHourly) {
  Schedule s = ParseOrDie("30 * * * *", "Europe/Berlin");
  EXPECT_EQ(Runs(s, Utc(2026, 10, 24, 22), 5),
            (std::vector<std::string>{"2026-10-24T22:30:00Z",    // 00:30 CEST
                                      "2026-10-24T23:30:00Z",    // 01:30 CEST
                                      "2026-10-25T00:30:00Z",    // 02:30 CEST
                                      "2026-10-25T02:30:00Z",    // 03:30 CET
                                      "2026-10-25T03:30:00Z"}));  // 04:30 CET
  // Every second across the repeated hour: the second pass adds nothing.
  Schedule every = ParseOrDie("* * * * * *", "Europe/Berlin");
  EXPECT_EQ(Runs(every, Utc(2026, 10, 25, 0, 59, 58), 3),
            (std::vector<std::string>{"2026-10-25T00:59:59Z",    // 02:59:59 CEST
                                      "2026-10-25T02:00:00Z",    // 03:00:00 CET
                                      "2026-10-25T02:00:01Z"}));
}

TEST(Schedule, FromInsideTheSecondPass) {
  // 02:00:00 CET, the start of the repeated hour's second pass: every second of it already
  // ran in the first pass, so the next run is 03:00:00 CET.
  Schedule every = ParseOrDie("* * * * * *", "Europe/Berlin");
  EXPECT_EQ(every.NextAfter(Utc(2026, 10, 25, 1)), Utc(2026, 10, 25, 2));
  EXPECT_EQ(every.NextAfter(Utc(2026, 10, 25, 1, 59, 59)), Utc(2026, 10, 25, 2));
}

TEST(Schedule, ExtremeInstants) {
  Schedule s = ParseOrDie("0 0 * * *");
  EXPECT_EQ(s.NextAfter(std::numeric_limits<int64_t>::max()), std::nullopt);
  // The far past is still representable: the next midnight after it.
  const std::optional<int64_t> early = s.NextAfter(std::numeric_limits<int64_t>::min());
  ASSERT_TRUE(early);
  EXPECT_GT(*early, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*early % 86400000, 0);
  EXPECT_EQ(s.NextAfter(Utc(1900, 1, 1, 12)), Utc(1900, 1, 2));
}

// Europe/Berlin springs forward on 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z,
// so 02:00-02:59 never happens.
TEST(Schedule, BerlinSpringForwardRunsSkippedTimeAtTransition) {
  Schedule s = ParseOrDie("30 2 * * *", "Europe/Berlin");
  const std::optional<int64_t> first = s.NextAfter(Utc(2026, 3, 28, 12));
  EXPECT_EQ(first, 1774746000000) << Show(first);  // 2026-03-29T01:00:00Z = 03:00 CEST
  ASSERT_TRUE(first);
  const std::optional<int64_t> second = s.NextAfter(*first);
  EXPECT_EQ(second, 1774830600000) << Show(second);  // 2026-03-30T00:30:00Z, 02:30 CEST
  // Half a second after the transition: already run.
  EXPECT_EQ(s.NextAfter(1774746000000 + 500), 1774830600000);
  // A moment before: runs at the transition.
  EXPECT_EQ(s.NextAfter(1774746000000 - 1), 1774746000000);
}

TEST(Schedule, BerlinSpringForwardGapRunsOnce) {
  Schedule s = ParseOrDie("*/15 * * * *", "Europe/Berlin");
  // From 01:40 CET: 01:45 CET, then 02:00/02:15/02:30/02:45 (skipped) and 03:00 CEST all
  // land on the transition, once; then 03:15 CEST.
  EXPECT_EQ(Runs(s, Utc(2026, 3, 29, 0, 40), 4),
            (std::vector<std::string>{"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z",
                                      "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z"}));
  EXPECT_EQ(s.NextAfter(1774745100000), 1774746000000);  // 00:45Z -> 01:00Z
  EXPECT_EQ(s.NextAfter(1774746000000), 1774746900000);  // 01:00Z -> 01:15Z
  // Seconds resolution: every second of the gap is the one transition instant.
  Schedule every = ParseOrDie("* * * * * *", "Europe/Berlin");
  EXPECT_EQ(Runs(every, Utc(2026, 3, 29, 0, 59, 59), 3),
            (std::vector<std::string>{"2026-03-29T01:00:00Z", "2026-03-29T01:00:01Z",
                                      "2026-03-29T01:00:02Z"}));
}

// America/New_York in 2026: springs forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z),
// falls back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
TEST(Schedule, NewYork) {
  const std::string ny = "America/New_York";
  EXPECT_EQ(Next("0 9 * * MON-FRI", Utc(2026, 1, 1), ny), "2026-01-01T14:00:00Z");  // EST
  EXPECT_EQ(Next("0 9 * * MON-FRI", Utc(2026, 7, 1), ny), "2026-07-01T13:00:00Z");  // EDT
  Schedule fall = ParseOrDie("30 1 * * *", ny);
  EXPECT_EQ(Runs(fall, Utc(2026, 10, 31, 12), 2),
            (std::vector<std::string>{"2026-11-01T05:30:00Z",    // 01:30 EDT
                                      "2026-11-02T06:30:00Z"}));  // 01:30 EST next day
  EXPECT_EQ(fall.NextAfter(Utc(2026, 10, 31, 12)), 1793511000000);
  Schedule spring = ParseOrDie("30 2 * * *", ny);
  EXPECT_EQ(Runs(spring, Utc(2026, 3, 7, 12), 2),
            (std::vector<std::string>{"2026-03-08T07:00:00Z",    // the transition
                                      "2026-03-09T06:30:00Z"}));  // 02:30 EDT
  EXPECT_EQ(spring.NextAfter(Utc(2026, 3, 7, 12)), 1772953200000);
}

}  // namespace
}  // namespace aimass::scheduler
