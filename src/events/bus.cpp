#include "events/bus.hpp"

#include <vector>

#include "common/time.hpp"

namespace aimass::events {

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

void EventBus::Publish(std::string topic, std::string data) {
  Event e;
  e.topic = std::move(topic);
  e.data = std::move(data);
  e.time_ms = UnixNowMs();
  std::vector<Handler> targets;
  {
    std::lock_guard lock(mu_);
    e.id = next_event_++;
    for (const auto& [id, sub] : subs_) {
      if (TopicMatches(sub.first, e.topic)) targets.push_back(sub.second);
    }
  }
  // Outside the lock: a handler may subscribe or unsubscribe.
  for (const auto& h : targets) h(e);
}

uint64_t EventBus::Subscribe(std::string pattern, Handler handler) {
  std::lock_guard lock(mu_);
  uint64_t id = next_sub_++;
  subs_.emplace(id, std::make_pair(std::move(pattern), std::move(handler)));
  return id;
}

void EventBus::Unsubscribe(uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

}  // namespace aimass::events
