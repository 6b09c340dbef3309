#include "mq/event_bridge.hpp"

#include <spdlog/spdlog.h>

#include "events/bus.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

EventBridge::EventBridge(events::EventBus& bus, Broker& broker) : bus_(bus), broker_(broker) {
  subscription_ = bus_.Subscribe(">", [this](const events::Event& e) { Forward(e); });
}

EventBridge::~EventBridge() { bus_.Unsubscribe(subscription_); }

void EventBridge::Forward(const events::Event& e) {
  bool known;
  {
    std::lock_guard lock(mu_);
    known = known_.count(e.topic) > 0;
  }
  if (!known) {
    TopicSpec spec;
    spec.name = e.topic;
    spec.retention.max_age_ms = 7LL * 24 * 3600 * 1000;
    auto made = broker_.CreateTopic(spec);
    if (!made.ok() && made.status().code() != Code::kConflict) {
      spdlog::warn("mq: cannot make the event topic {}: {}", e.topic, made.status().message());
      return;
    }
    std::lock_guard lock(mu_);
    known_.insert(e.topic);
  }
  OutgoingMessage m;
  m.body = e.data;
  m.headers = {{"x-event-id", std::to_string(e.id)}, {"x-event-time-ms", std::to_string(e.time_ms)}};
  std::vector<OutgoingMessage> batch;
  batch.push_back(std::move(m));
  auto res = broker_.Publish(e.topic, std::move(batch));
  if (!res.ok()) {
    // Deleted by an admin meanwhile: made again with the next event.
    if (res.status().code() == Code::kNotFound) {
      std::lock_guard lock(mu_);
      known_.erase(e.topic);
    }
    spdlog::warn("mq: event {} not published: {}", e.topic, res.status().message());
  }
}

}  // namespace aimass::mq
