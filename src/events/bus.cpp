#include "events/bus.hpp"

#include <vector>

#include "common/time.hpp"
#include "common/topic_pattern.hpp"

namespace aimass::events {

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
