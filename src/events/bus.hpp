// EventBus: in-process publish/subscribe of platform events (`registry.version.created`,
// `registry.alias.moved`, …). Topics are dot-separated; a subscription pattern may use `*`
// for one segment and a final `>` for one or more (common/topic_pattern.hpp). Delivery is synchronous on
// the publisher's thread, so a subscriber must return quickly (queue, then work elsewhere).
// The message queue's event bridge (mq/event_bridge.hpp) publishes each event on its topic.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace aimass::events {

struct Event {
  std::string topic;
  std::string data;   // JSON object
  int64_t time_ms = 0;
  uint64_t id = 0;    // increasing per process
};

class EventBus {
 public:
  using Handler = std::function<void(const Event&)>;

  // Stamps id and time, then hands the event to every matching subscriber.
  void Publish(std::string topic, std::string data);
  uint64_t Subscribe(std::string pattern, Handler handler);
  void Unsubscribe(uint64_t id);

 private:
  std::mutex mu_;
  uint64_t next_sub_ = 1;
  uint64_t next_event_ = 1;
  std::unordered_map<uint64_t, std::pair<std::string, Handler>> subs_;
};

}  // namespace aimass::events
