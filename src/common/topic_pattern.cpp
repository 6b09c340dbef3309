#include "common/topic_pattern.hpp"

#include <vector>

namespace aimass {

static std::vector<std::string_view> Segments(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    size_t dot = s.find('.');
    out.push_back(s.substr(0, dot));
    if (dot == std::string_view::npos) return out;
    s.remove_prefix(dot + 1);
  }
}

bool TopicMatches(std::string_view pattern, std::string_view topic) {
  auto p = Segments(pattern), t = Segments(topic);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return i < t.size();
    if (i >= t.size()) return false;
    if (p[i] != "*" && p[i] != t[i]) return false;
  }
  return p.size() == t.size();
}

bool ValidPattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 256) return false;
  auto segs = Segments(pattern);
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string_view s = segs[i];
    if (s == "*") continue;
    if (s == ">") {
      if (i + 1 != segs.size()) return false;
      continue;
    }
    if (s.empty()) return false;
    for (char c : s) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    }
  }
  return true;
}

}  // namespace aimass
