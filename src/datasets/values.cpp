#include "datasets/values.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/fnv1a.hpp"

namespace aimass::datasets {

namespace {

constexpr size_t kCategoricalMax = 1000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at s[pos]; -1 on anything else.
int Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!IsDigit(c)) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool LeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && LeapYear(y) ? 29 : kDays[m - 1];
}

// Distinct-value counting for categorical detection only.
uint64_t HashText(std::string_view s) { return Fnv1a(s); }

}  // namespace

bool IsNullToken(std::string_view s) {
  switch (s.size()) {
    case 0:
      return true;
    case 2:
      return s == "NA";
    case 3:
      return s == "N/A" || s == "NaN" || s == "nan";
    case 4:
      return s == "null" || s == "NULL" || s == "None";
    default:
      return false;
  }
}

std::optional<int64_t> ParseInteger(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || (s[0] == '-' && s.size() == 1)) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseFloat(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  // from_chars takes "inf" and "nan" too; only numbers written with digits count here, so a
  // column of words like "infinity" is not read as floats.
  if (!IsDigit(s[0]) && s[0] != '-' && s[0] != '.') return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> ParseBoolean(std::string_view s) {
  auto eq = [&](std::string_view word) {
    if (s.size() != word.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != word[i]) return false;
    }
    return true;
  };
  if (eq("true")) return true;
  if (eq("false")) return false;
  return std::nullopt;
}

std::optional<int64_t> ParseTimestamp(std::string_view s) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int y = Digits(s, 0, 4), mo = Digits(s, 5, 2), d = Digits(s, 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, mo)) return std::nullopt;
  int64_t micros = DaysFromCivil(y, mo, d) * 86400ll * 1000000;
  size_t pos = 10;
  if (pos == s.size()) return micros;
  if (s[pos] != 'T' && s[pos] != ' ') return std::nullopt;
  int h = Digits(s, pos + 1, 2);
  if (h < 0 || h > 23 || pos + 3 >= s.size() || s[pos + 3] != ':') return std::nullopt;
  int mi = Digits(s, pos + 4, 2);
  if (mi < 0 || mi > 59) return std::nullopt;
  int64_t secs = h * 3600 + mi * 60;
  pos += 6;
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == ':') {
    int sec = Digits(s, pos + 1, 2);
    if (sec < 0 || sec > 60) return std::nullopt;
    secs += sec;
    pos += 3;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      int64_t scale = 100000;
      size_t start = pos;
      while (pos < s.size() && IsDigit(s[pos])) {
        frac += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
  }
  if (pos < s.size()) {
    if (s[pos] == 'Z' && pos + 1 == s.size()) {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int sign = s[pos] == '+' ? 1 : -1;
      int oh = Digits(s, pos + 1, 2);
      size_t mpos = pos + 3;
      if (mpos < s.size() && s[mpos] == ':') ++mpos;
      int om = Digits(s, mpos, 2);
      if (oh < 0 || oh > 23 || om < 0 || om > 59 || mpos + 2 != s.size()) return std::nullopt;
      secs -= sign * (oh * 3600 + om * 60);
      pos = s.size();
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  return micros + secs * 1000000 + frac;
}

std::string FormatTimestamp(int64_t micros) {
  int64_t days = micros >= 0 ? micros / 86400000000ll : -((-micros + 86400000000ll - 1) / 86400000000ll);
  int64_t rest = micros - days * 86400000000ll;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  int64_t secs = rest / 1000000, frac = rest % 1000000;
  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", static_cast<long long>(y), m, d,
                        static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                        static_cast<long long>(secs % 60));
  if (frac) n += std::snprintf(buf + n, sizeof buf - n, ".%06lld", static_cast<long long>(frac));
  buf[n++] = 'Z';
  return std::string(buf, n);
}

std::string FormatFloat(double v) {
  char buf[40];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf - 2, v);
  std::string out(buf, ec == std::errc() ? p : buf);
  // 17850.0, not 17850: read back, the value is a float again (not an integer).
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
  return out;
}

void TypeGuess::Add(std::string_view value) {
  if (IsNullToken(value)) {
    saw_null_ = true;
    if (value.empty()) saw_empty_ = true;
    if (value.empty()) return;
    // "NA" and friends are missing for a typed column but a value of a string column.
    if (candidates_ != 0) return;
  }
  ++values_;
  if (candidates_ & kInt && !ParseInteger(value)) candidates_ &= ~kInt;
  if (candidates_ & kFloat && !ParseFloat(value)) candidates_ &= ~kFloat;
  if (candidates_ & kBool && !ParseBoolean(value)) candidates_ &= ~kBool;
  if (candidates_ & kTime && !ParseTimestamp(value)) candidates_ &= ~kTime;
  if (!many_distinct_) {
    distinct_.insert(HashText(value));
    if (distinct_.size() > kCategoricalMax) {
      many_distinct_ = true;
      distinct_ = {};
    }
  }
}

ColumnType TypeGuess::Result() const {
  if (values_ > 0) {
    if (candidates_ & kBool) return ColumnType::kBoolean;
    if (candidates_ & kInt) return ColumnType::kInteger;
    if (candidates_ & kFloat) return ColumnType::kFloat;
    if (candidates_ & kTime) return ColumnType::kTimestamp;
    if (!many_distinct_ && distinct_.size() * 2 <= values_) return ColumnType::kCategorical;
  }
  return ColumnType::kString;
}

bool AppendParsed(ColumnBuilder& out, ColumnType type, std::string_view text) {
  switch (type) {
    case ColumnType::kInteger:
      if (auto v = ParseInteger(text)) return out.AppendInt(*v), true;
      return false;
    case ColumnType::kFloat:
      if (auto v = ParseFloat(text)) return out.AppendFloat(*v), true;
      return false;
    case ColumnType::kBoolean:
      if (auto v = ParseBoolean(text)) return out.AppendInt(*v ? 1 : 0), true;
      return false;
    case ColumnType::kTimestamp:
      if (auto v = ParseTimestamp(text)) return out.AppendInt(*v), true;
      return false;
    case ColumnType::kString:
    case ColumnType::kCategorical:
      out.AppendString(text);
      return true;
  }
  return false;
}

std::string ValueText(const ColumnData& c, size_t row) {
  switch (c.type) {
    case ColumnType::kInteger:
      return std::to_string(c.ints[row]);
    case ColumnType::kFloat:
      return FormatFloat(c.floats[row]);
    case ColumnType::kBoolean:
      return c.ints[row] ? "true" : "false";
    case ColumnType::kTimestamp:
      return FormatTimestamp(c.ints[row]);
    case ColumnType::kString:
    case ColumnType::kCategorical:
      return std::string(c.Str(row));
  }
  return {};
}

void AppendCsvField(std::string& out, std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace aimass::datasets
