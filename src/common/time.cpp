#include "common/time.hpp"

#include <chrono>
#include <ctime>

namespace aimass {

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Rfc3339(int64_t unix_seconds) {
  if (unix_seconds == 0) return "";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Rfc3339Ms(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return buf;
}

std::optional<int64_t> ParseRfc3339Ms(std::string_view text) {
  auto digits = [&](size_t at, size_t n, int& out) {
    if (at + n > text.size()) return false;
    out = 0;
    for (size_t k = at; k < at + n; ++k) {
      if (text[k] < '0' || text[k] > '9') return false;
      out = out * 10 + (text[k] - '0');
    }
    return true;
  };
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, year) || text.size() < 10 || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' || !digits(8, 2, day)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
  size_t at = 10;
  int64_t ms = 0, offset_s = 0;
  if (at < text.size()) {
    if ((text[at] != 'T' && text[at] != 't' && text[at] != ' ') || !digits(at + 1, 2, hour) || text.size() < at + 9 ||
        text[at + 3] != ':' || !digits(at + 4, 2, minute) || text[at + 6] != ':' || !digits(at + 7, 2, second)) {
      return std::nullopt;
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
    at += 9;
    if (at < text.size() && text[at] == '.') {
      int64_t scale = 100;
      size_t k = at + 1;
      for (; k < text.size() && text[k] >= '0' && text[k] <= '9'; ++k, scale /= 10) ms += (text[k] - '0') * scale;
      if (k == at + 1) return std::nullopt;
      at = k;
    }
    if (at < text.size()) {
      if (text[at] == 'Z' || text[at] == 'z') {
        ++at;
      } else if (text[at] == '+' || text[at] == '-') {
        int oh, om;
        if (!digits(at + 1, 2, oh) || text.size() < at + 6 || text[at + 3] != ':' || !digits(at + 4, 2, om) || oh > 23 || om > 59) {
          return std::nullopt;
        }
        offset_s = (text[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        at += 6;
      }
    }
    if (at != text.size()) return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const int64_t seconds = static_cast<int64_t>(timegm(&tm));
  return (seconds - offset_s) * 1000 + ms;
}

}  // namespace aimass
