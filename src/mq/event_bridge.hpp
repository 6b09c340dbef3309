// EventBridge: carries the platform's own events (registry.*, serving.*, scheduler.*) from the
// in-process EventBus into message-queue topics of the same name, so that users' services and
// other processes subscribe to them like to any topic (`registry.>`), with acks, replay and
// dead letters. A topic is made on its first event (one partition, kept seven days).
// Thread-safe; events are published on the emitter's thread, so publishing must stay cheap:
// the event topics use the broker's `interval` fsync unless an admin recreates them otherwise.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

namespace aimass::events {
class EventBus;
struct Event;
}  // namespace aimass::events

namespace aimass::mq {

class Broker;

class EventBridge {
 public:
  EventBridge(events::EventBus& bus, Broker& broker);
  ~EventBridge();
  EventBridge(const EventBridge&) = delete;
  EventBridge& operator=(const EventBridge&) = delete;

 private:
  void Forward(const events::Event& e);

  events::EventBus& bus_;
  Broker& broker_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::set<std::string> known_;  // topics seen to exist
};

}  // namespace aimass::mq
