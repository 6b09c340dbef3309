#include "scheduler/schedule.hpp"

#include <absl/time/civil_time.h>
#include <absl/time/time.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string_view>
#include <system_error>
#include <vector>

namespace aimass::scheduler {

namespace {

constexpr size_t kMaxExpressionLength = 256;
// The longest IANA name today is 32 characters; the cap only keeps junk short.
constexpr size_t kMaxZoneNameLength = 64;
// How far NextAfter looks before concluding a schedule never runs ("0 0 30 2 *").
constexpr int kSearchYears = 5;

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// One cron field: its name in messages, the values it accepts, and the range that * (and
// the open end of a/n) stands for. Day of week accepts 7 for Sunday but * means 0-6, so
// "*/2" does not produce Sunday twice.
struct FieldSpec {
  const char* name;
  int min;
  int max;
  int star_max;
  const char* const* names;  // names[i] stands for value names_base + i
  int names_count;
  int names_base;
};

constexpr FieldSpec kSecond{"second", 0, 59, 59, nullptr, 0, 0};
constexpr FieldSpec kMinute{"minute", 0, 59, 59, nullptr, 0, 0};
constexpr FieldSpec kHour{"hour", 0, 23, 23, nullptr, 0, 0};
constexpr FieldSpec kDayOfMonth{"day of month", 1, 31, 31, nullptr, 0, 0};
constexpr FieldSpec kMonth{"month", 1, 12, 12, kMonthNames, 12, 1};
constexpr FieldSpec kDayOfWeek{"day of week", 0, 7, 6, kDayNames, 7, 0};

Status FieldError(const FieldSpec& spec, const std::string& what) {
  return Status::BadRequest("cron field '" + std::string(spec.name) + "': " + what);
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

// A single value: a number in [min, max] or, where the field has them, a name.
Result<int> ParseValue(const FieldSpec& spec, std::string_view token) {
  if (AllDigits(token)) {
    // More than three digits is out of range for every field; checking the length first
    // keeps the conversion from overflowing.
    const int v =
        token.size() > 3 ? std::numeric_limits<int>::max() : std::atoi(std::string(token).c_str());
    if (v < spec.min || v > spec.max) {
      return FieldError(spec, std::string(token) + " is out of range " + std::to_string(spec.min) +
                                  "-" + std::to_string(spec.max));
    }
    return v;
  }
  for (int i = 0; i < spec.names_count; ++i) {
    if (EqualsIgnoreCase(token, spec.names[i])) return spec.names_base + i;
  }
  return FieldError(spec, "'" + std::string(token) + "' is not a valid value");
}

// Expands one field into a bit per accepted value. `starred` reports whether the field
// starts with * or ?, which is what the day-of-month/day-of-week rule looks at.
Status ParseField(const FieldSpec& spec, std::string_view text, uint64_t* bits, bool* starred) {
  *bits = 0;
  *starred = !text.empty() && (text[0] == '*' || text[0] == '?');
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) return FieldError(spec, "empty list item in '" + std::string(text) + "'");

    std::string_view range = item;
    std::optional<std::string_view> step_text;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      step_text = item.substr(slash + 1);
    }

    int lo = 0;
    int hi = 0;
    if (range == "*" || range == "?") {
      lo = spec.min;
      hi = spec.star_max;
    } else if (size_t dash = range.find('-'); dash != std::string_view::npos) {
      std::string_view a = range.substr(0, dash);
      std::string_view b = range.substr(dash + 1);
      if (a.empty() || b.empty()) {
        return FieldError(spec, "'" + std::string(item) + "' is not a valid range");
      }
      Result<int> ra = ParseValue(spec, a);
      if (!ra.ok()) return ra.status();
      Result<int> rb = ParseValue(spec, b);
      if (!rb.ok()) return rb.status();
      lo = *ra;
      hi = *rb;
      if (lo > hi) {
        return FieldError(spec, "range '" + std::string(range) + "' is reversed");
      }
    } else {
      Result<int> rv = ParseValue(spec, range);
      if (!rv.ok()) return rv.status();
      lo = *rv;
      // "a/n" runs from a to the end of the field, as in robfig/cron and Quartz.
      hi = step_text ? std::max(lo, spec.star_max) : lo;
    }

    int step = 1;
    if (step_text) {
      const int span = spec.star_max - spec.min + 1;
      if (!AllDigits(*step_text)) {
        return FieldError(spec, "step '" + std::string(*step_text) + "' in '" + std::string(item) +
                                    "' is not a number");
      }
      step = step_text->size() > 3 ? std::numeric_limits<int>::max()
                                   : std::atoi(std::string(*step_text).c_str());
      if (step < 1 || step > span) {
        return FieldError(spec, "step " + std::string(*step_text) + " in '" + std::string(item) +
                                    "' is out of range 1-" + std::to_string(span));
      }
    }
    for (int v = lo; v <= hi; v += step) *bits |= uint64_t{1} << v;
  }
  return Status::Ok();
}

std::vector<std::string_view> SplitFields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// The 5-field expression a macro stands for, or nullptr.
const char* ExpandMacro(std::string_view macro) {
  static constexpr struct {
    const char* name;
    const char* fields;
  } kMacros[] = {
      {"@YEARLY", "0 0 1 1 *"},  {"@ANNUALLY", "0 0 1 1 *"}, {"@MONTHLY", "0 0 1 * *"},
      {"@WEEKLY", "0 0 * * 0"},  {"@DAILY", "0 0 * * *"},    {"@MIDNIGHT", "0 0 * * *"},
      {"@HOURLY", "0 * * * *"},
  };
  for (const auto& m : kMacros) {
    if (EqualsIgnoreCase(macro, m.name)) return m.fields;
  }
  return nullptr;
}

bool ValidZoneNameSyntax(std::string_view name) {
  // IANA names are slash-separated components of letters, digits, '_', '-' and '+'.
  // Refusing everything else (and "." / ".." components, absolute paths) keeps the zone
  // loader, which reads files named after the zone, inside the zoneinfo directory.
  if (name.empty() || name.size() > kMaxZoneNameLength) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view part = name.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+') {
        return false;
      }
    }
    start = slash + 1;
  }
  return true;
}

Result<absl::TimeZone> LoadZone(const std::string& name) {
  // UTC is built into absl and needs no tzdata.
  if (name == "UTC") return absl::UTCTimeZone();
  if (!ValidZoneNameSyntax(name)) {
    return Status::BadRequest("unknown time zone '" + name.substr(0, kMaxZoneNameLength) + "'");
  }
  // absl caches every name it is asked to load, failures included, for the life of the
  // process. Asking only for names that exist as files bounds that cache by the tzdata
  // install rather than by what clients send.
  const char* tzdir = std::getenv("TZDIR");
  std::filesystem::path file =
      std::filesystem::path(tzdir && *tzdir ? tzdir : "/usr/share/zoneinfo") / name;
  std::error_code ec;
  absl::TimeZone zone;
  if (!std::filesystem::is_regular_file(file, ec) || !absl::LoadTimeZone(name, &zone)) {
    return Status::BadRequest("unknown time zone '" + name + "'");
  }
  return zone;
}

}  // namespace

struct Schedule::Impl {
  std::string expression;
  std::string zone_name;
  absl::TimeZone zone;
  bool has_seconds = false;
  uint64_t seconds = 0;
  uint64_t minutes = 0;
  uint64_t hours = 0;
  uint64_t days_of_month = 0;
  uint64_t months = 0;
  uint64_t days_of_week = 0;  // bit 0 is Sunday; 7 has been folded into it
  // Vixie cron: with both day fields restricted a day matches if either does.
  bool day_either = false;

  bool DayMatches(absl::CivilDay d) const {
    // absl numbers weekdays from Monday = 0; cron from Sunday = 0.
    const int dow = (static_cast<int>(absl::GetWeekday(d)) + 1) % 7;
    const bool dom_ok = days_of_month >> d.day() & 1;
    const bool dow_ok = days_of_week >> dow & 1;
    return day_either ? (dom_ok || dow_ok) : (dom_ok && dow_ok);
  }

  // The first civil time after `from` that the fields match, no later than `limit`. Each
  // miss skips to the start of the next month, day, hour or minute, so a search over years
  // takes hundreds of steps, not millions.
  std::optional<absl::CivilSecond> NextMatch(absl::CivilSecond from,
                                             absl::CivilSecond limit) const {
    absl::CivilSecond t = from + 1;
    while (t <= limit) {
      if (!(months >> t.month() & 1)) {
        t = absl::CivilMonth(t) + 1;
      } else if (!DayMatches(absl::CivilDay(t))) {
        t = absl::CivilDay(t) + 1;
      } else if (!(hours >> t.hour() & 1)) {
        t = absl::CivilHour(t) + 1;
      } else if (!(minutes >> t.minute() & 1)) {
        t = absl::CivilMinute(t) + 1;
      } else if (!(seconds >> t.second() & 1)) {
        t += 1;
      } else {
        return t;
      }
    }
    return std::nullopt;
  }
};

Result<Schedule> Schedule::Parse(const std::string& expression, const std::string& time_zone) {
  if (expression.size() > kMaxExpressionLength) {
    return Status::BadRequest("cron expression is longer than " +
                              std::to_string(kMaxExpressionLength) + " characters");
  }
  auto impl = std::make_shared<Impl>();
  impl->expression = expression;
  impl->zone_name = time_zone.empty() ? "UTC" : time_zone;

  std::vector<std::string_view> fields = SplitFields(expression);
  if (fields.empty()) return Status::BadRequest("cron expression is empty");
  if (fields[0][0] == '@') {
    const char* expanded = fields.size() == 1 ? ExpandMacro(fields[0]) : nullptr;
    if (expanded == nullptr) {
      return Status::BadRequest("unknown cron macro '" + std::string(fields[0]) +
                                "' (want @yearly, @annually, @monthly, @weekly, @daily, "
                                "@midnight or @hourly, alone)");
    }
    fields = SplitFields(expanded);
  }
  if (fields.size() != 5 && fields.size() != 6) {
    return Status::BadRequest("cron expression has " + std::to_string(fields.size()) +
                              " fields; want 5 (minute hour day-of-month month day-of-week) or 6 "
                              "(second first)");
  }

  impl->has_seconds = fields.size() == 6;
  size_t i = 0;
  bool starred = false;
  bool dom_starred = false;
  bool dow_starred = false;
  if (impl->has_seconds) {
    AIMASS_RETURN_IF_ERROR(ParseField(kSecond, fields[i++], &impl->seconds, &starred));
  } else {
    impl->seconds = 1;  // second 0
  }
  AIMASS_RETURN_IF_ERROR(ParseField(kMinute, fields[i++], &impl->minutes, &starred));
  AIMASS_RETURN_IF_ERROR(ParseField(kHour, fields[i++], &impl->hours, &starred));
  AIMASS_RETURN_IF_ERROR(ParseField(kDayOfMonth, fields[i++], &impl->days_of_month, &dom_starred));
  AIMASS_RETURN_IF_ERROR(ParseField(kMonth, fields[i++], &impl->months, &starred));
  AIMASS_RETURN_IF_ERROR(ParseField(kDayOfWeek, fields[i++], &impl->days_of_week, &dow_starred));
  if (impl->days_of_week >> 7 & 1) {  // 7 is another name for Sunday
    impl->days_of_week = (impl->days_of_week | 1) & ~(uint64_t{1} << 7);
  }
  impl->day_either = !dom_starred && !dow_starred;

  AIMASS_ASSIGN_OR_RETURN(impl->zone, LoadZone(impl->zone_name));
  return Schedule(std::move(impl));
}

std::optional<int64_t> Schedule::NextAfter(int64_t after_unix_ms) const {
  const Impl& s = *impl_;
  const absl::Time after = absl::FromUnixMillis(after_unix_ms);
  // Whole seconds: a run at 10:00:00 is not "after" 10:00:00.500.
  absl::CivilSecond from = absl::ToCivilSecond(after, s.zone);
  const absl::CivilSecond limit(from.year() + kSearchYears, from.month(), from.day(), from.hour(),
                                from.minute(), from.second());
  for (;;) {
    std::optional<absl::CivilSecond> civil = s.NextMatch(from, limit);
    if (!civil) return std::nullopt;
    // A repeated civil time runs at its first occurrence; a skipped one at the moment the
    // clocks jump past it, which every skipped time of one gap shares.
    const absl::TimeZone::TimeInfo info = s.zone.At(*civil);
    const absl::Time at = info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
    // Not yet past `after`: the second pass of a repeated hour (already run the first time),
    // or a skipped time whose transition is at or before `after` (already run then).
    if (at > after) {
      if (at > absl::FromUnixMillis(std::numeric_limits<int64_t>::max())) return std::nullopt;
      return absl::ToUnixMillis(at);
    }
    from = *civil;
  }
}

const std::string& Schedule::expression() const { return impl_->expression; }
const std::string& Schedule::time_zone() const { return impl_->zone_name; }
bool Schedule::has_seconds() const { return impl_->has_seconds; }

}  // namespace aimass::scheduler
