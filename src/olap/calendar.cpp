#include "olap/calendar.hpp"

#include <array>
#include <charconv>
#include <cstdio>

namespace aimass::olap {

namespace {

constexpr std::array<std::string_view, 8> kNames = {"year", "quarter", "month", "week", "day", "hour", "weekday", "hour_of_day"};

bool Digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<int64_t> Number(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

unsigned MonthDays(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// `unix_seconds` moved by `months` civil months (the day clamped to the new month's length).
int64_t AddMonths(int64_t unix_seconds, int64_t months) {
  const int64_t days = FloorDiv(unix_seconds, 86400);
  const int64_t rest = unix_seconds - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  const int64_t total = y * 12 + (m - 1) + months;
  const int64_t ny = FloorDiv(total, 12);
  const unsigned nm = static_cast<unsigned>(total - ny * 12) + 1;
  const unsigned nd = std::min(d, MonthDays(ny, nm));
  return DaysFromCivil(ny, nm, nd) * 86400 + rest;
}

// YYYY-MM-DD at the start of `s` (10 characters).
std::optional<int64_t> DatePart(std::string_view s) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto y = Number(s.substr(0, 4));
  auto m = Number(s.substr(5, 2));
  auto d = Number(s.substr(8, 2));
  if (!y || !m || !d || !Digits(s.substr(0, 4)) || *m < 1 || *m > 12 || *d < 1) return std::nullopt;
  if (*d > MonthDays(*y, static_cast<unsigned>(*m))) return std::nullopt;
  return DaysFromCivil(*y, static_cast<unsigned>(*m), static_cast<unsigned>(*d));
}

}  // namespace

std::optional<TimeLevel> ParseTimeLevel(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<TimeLevel>(i);
  }
  return std::nullopt;
}

std::string_view TimeLevelName(TimeLevel level) { return kNames[static_cast<size_t>(level)]; }

bool IsHierarchical(TimeLevel level) { return level <= TimeLevel::kHour; }

std::optional<TimeLevel> FinerLevel(TimeLevel level) {
  if (level >= TimeLevel::kHour) return std::nullopt;
  return static_cast<TimeLevel>(static_cast<int>(level) + 1);
}

std::optional<TimeLevel> CoarserLevel(TimeLevel level) {
  if (level == TimeLevel::kYear || !IsHierarchical(level)) return std::nullopt;
  return static_cast<TimeLevel>(static_cast<int>(level) - 1);
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

int64_t LevelKey(TimeLevel level, int64_t t) {
  const int64_t days = FloorDiv(t, 86400);
  switch (level) {
    case TimeLevel::kHour: return FloorDiv(t, 3600);
    case TimeLevel::kDay: return days;
    case TimeLevel::kWeek: return FloorDiv(days + 3, 7);
    case TimeLevel::kWeekday: return (days % 7 + 7 + 3) % 7 + 1;
    case TimeLevel::kHourOfDay: return (t - days * 86400) / 3600;
    default: break;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (level == TimeLevel::kYear) return y;
  if (level == TimeLevel::kQuarter) return y * 4 + (m - 1) / 3;
  return y * 12 + (m - 1);
}

int64_t KeyStart(TimeLevel level, int64_t key) {
  switch (level) {
    case TimeLevel::kYear: return DaysFromCivil(key, 1, 1) * 86400;
    case TimeLevel::kQuarter: {
      const int64_t y = FloorDiv(key, 4);
      return DaysFromCivil(y, static_cast<unsigned>(key - y * 4) * 3 + 1, 1) * 86400;
    }
    case TimeLevel::kMonth: {
      const int64_t y = FloorDiv(key, 12);
      return DaysFromCivil(y, static_cast<unsigned>(key - y * 12) + 1, 1) * 86400;
    }
    case TimeLevel::kWeek: return (key * 7 - 3) * 86400;
    case TimeLevel::kDay: return key * 86400;
    case TimeLevel::kHour: return key * 3600;
    default: return 0;
  }
}

std::string RenderKey(TimeLevel level, int64_t key) {
  char buf[48];
  int64_t y;
  unsigned m, d;
  switch (level) {
    case TimeLevel::kYear: std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(key)); break;
    case TimeLevel::kQuarter: {
      const int64_t qy = FloorDiv(key, 4);
      std::snprintf(buf, sizeof buf, "%04lld-Q%lld", static_cast<long long>(qy), static_cast<long long>(key - qy * 4 + 1));
      break;
    }
    case TimeLevel::kMonth: {
      const int64_t my = FloorDiv(key, 12);
      std::snprintf(buf, sizeof buf, "%04lld-%02lld", static_cast<long long>(my), static_cast<long long>(key - my * 12 + 1));
      break;
    }
    case TimeLevel::kWeek:
    case TimeLevel::kDay:
      CivilFromDays(level == TimeLevel::kWeek ? key * 7 - 3 : key, &y, &m, &d);
      std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
      break;
    case TimeLevel::kHour: {
      CivilFromDays(FloorDiv(key, 24), &y, &m, &d);
      std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:00", static_cast<long long>(y), m, d,
                    static_cast<long long>(key - FloorDiv(key, 24) * 24));
      break;
    }
    case TimeLevel::kWeekday:
    case TimeLevel::kHourOfDay: std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(key)); break;
  }
  return buf;
}

std::optional<int64_t> ParseTime(std::string_view s) {
  if (s.size() == 4 && Digits(s)) return DaysFromCivil(*Number(s), 1, 1) * 86400;
  if (s.size() == 7 && s[4] == '-' && Digits(s.substr(0, 4)) && Digits(s.substr(5))) {
    const int64_t m = *Number(s.substr(5));
    if (m < 1 || m > 12) return std::nullopt;
    return DaysFromCivil(*Number(s.substr(0, 4)), static_cast<unsigned>(m), 1) * 86400;
  }
  if (Digits(s) && s.size() > 4 && s.size() < 19) return Number(s);
  auto days = DatePart(s);
  if (!days) return std::nullopt;
  if (s.size() == 10) return *days * 86400;
  if (s[10] != 'T' && s[10] != ' ' && s[10] != 't') return std::nullopt;
  std::string_view rest = s.substr(11);
  // HH:MM[:SS[.fff]] then Z, ±HH:MM or nothing (UTC).
  if (rest.size() < 5 || rest[2] != ':' || !Digits(rest.substr(0, 2)) || !Digits(rest.substr(3, 2))) return std::nullopt;
  int64_t hh = *Number(rest.substr(0, 2)), mm = *Number(rest.substr(3, 2)), ss = 0;
  rest.remove_prefix(5);
  if (!rest.empty() && rest[0] == ':') {
    if (rest.size() < 3 || !Digits(rest.substr(1, 2))) return std::nullopt;
    ss = *Number(rest.substr(1, 2));
    rest.remove_prefix(3);
    if (!rest.empty() && rest[0] == '.') {
      size_t i = 1;
      while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
      if (i == 1) return std::nullopt;
      rest.remove_prefix(i);
    }
  }
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  int64_t offset = 0;
  if (rest == "Z" || rest == "z") {
    rest = {};
  } else if (!rest.empty()) {
    if (rest.size() != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' || !Digits(rest.substr(1, 2)) ||
        !Digits(rest.substr(4, 2))) {
      return std::nullopt;
    }
    offset = (*Number(rest.substr(1, 2)) * 60 + *Number(rest.substr(4, 2))) * 60 * (rest[0] == '-' ? -1 : 1);
  }
  return *days * 86400 + hh * 3600 + mm * 60 + ss - offset;
}

std::optional<int64_t> ParseKey(TimeLevel level, std::string_view s) {
  if (level == TimeLevel::kWeekday || level == TimeLevel::kHourOfDay) {
    auto v = Number(s);
    if (!v) return std::nullopt;
    if (level == TimeLevel::kWeekday ? (*v < 1 || *v > 7) : (*v < 0 || *v > 23)) return std::nullopt;
    return v;
  }
  if (level == TimeLevel::kQuarter && s.size() == 7 && s[4] == '-' && (s[5] == 'Q' || s[5] == 'q') && Digits(s.substr(0, 4))) {
    const int64_t q = s[6] - '0';
    if (q < 1 || q > 4) return std::nullopt;
    return *Number(s.substr(0, 4)) * 4 + q - 1;
  }
  auto t = ParseTime(s);
  if (!t) return std::nullopt;
  return LevelKey(level, *t);
}

int64_t ShiftKey(TimeLevel level, int64_t key, Shift shift) {
  if (!IsHierarchical(level)) return key;
  if (shift == Shift::kPreviousPeriod) return key - 1;
  switch (level) {
    case TimeLevel::kYear: return key - 1;
    case TimeLevel::kQuarter: return key - 4;
    case TimeLevel::kMonth: return key - 12;
    case TimeLevel::kWeek: return key - 52;
    case TimeLevel::kDay: return FloorDiv(AddMonths(key * 86400, -12), 86400);
    default: return FloorDiv(AddMonths(key * 3600, -12), 3600);
  }
}

int64_t ShiftTime(TimeLevel level, int64_t t, Shift shift) {
  if (shift == Shift::kPreviousYear) return level == TimeLevel::kWeek ? t - 364 * 86400 : AddMonths(t, -12);
  switch (level) {
    case TimeLevel::kYear: return AddMonths(t, -12);
    case TimeLevel::kQuarter: return AddMonths(t, -3);
    case TimeLevel::kMonth: return AddMonths(t, -1);
    case TimeLevel::kWeek: return t - 7 * 86400;
    case TimeLevel::kDay: return t - 86400;
    case TimeLevel::kHour: return t - 3600;
    default: return t;
  }
}

}  // namespace aimass::olap
