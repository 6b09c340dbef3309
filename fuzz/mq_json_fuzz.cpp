// libFuzzer target for the message queue's request bodies (topics, subscriptions, publish,
// seek), which arrive from the network as JSON: the first byte picks the parser, the rest is
// the body. A parser may refuse anything but must never crash, and what it accepts must hold
// the limits it promises.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "mq/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  nlohmann::json body = nlohmann::json::parse(data + 1, data + size, nullptr, false);
  if (body.is_discarded()) return 0;
  switch (data[0] % 4) {
    case 0: {
      auto t = aimass::mq::ParseTopicSpec(body);
      if (t.ok() && (t->partitions == 0 || t->name.empty())) std::abort();
      break;
    }
    case 1: {
      auto s = aimass::mq::ParseSubscriptionSpec(body);
      if (s.ok() && (s->max_deliveries < 1 || s->ack_timeout_ms <= 0)) std::abort();
      break;
    }
    case 2: {
      auto m = aimass::mq::ParseOutgoing(body, 16);
      if (m.ok() && m->size() > 16) std::abort();
      if (m.ok()) {
        for (const auto& msg : *m) {
          if (msg.delay_ms < 0 || msg.ttl_ms < 0) std::abort();
        }
      }
      break;
    }
    default:
      (void)aimass::mq::ParseSeekTarget(body);
  }
  return 0;
}
