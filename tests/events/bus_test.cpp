#include "events/bus.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace aimass::events {
namespace {

TEST(EventBusTest, DeliversToMatchingSubscribersInOrderWithIncreasingIds) {
  EventBus bus;
  std::vector<std::string> seen;
  uint64_t last_id = 0;
  bool ids_increase = true;
  uint64_t sub = bus.Subscribe("registry.>", [&](const Event& e) {
    seen.push_back(e.topic + " " + e.data);
    ids_increase = ids_increase && e.id > last_id && e.time_ms > 0;
    last_id = e.id;
  });
  bus.Publish("registry.model.created", "{\"n\":1}");
  bus.Publish("serving.deployment.changed", "{}");
  bus.Publish("registry.alias.moved", "{\"n\":2}");
  EXPECT_EQ(seen, (std::vector<std::string>{"registry.model.created {\"n\":1}",
                                            "registry.alias.moved {\"n\":2}"}));
  EXPECT_TRUE(ids_increase);
  bus.Unsubscribe(sub);
  bus.Publish("registry.model.created", "{}");
  EXPECT_EQ(seen.size(), 2u);
}

TEST(EventBusTest, AHandlerMayUnsubscribeItself) {
  EventBus bus;
  int calls = 0;
  uint64_t id = 0;
  id = bus.Subscribe(">", [&](const Event&) {
    ++calls;
    bus.Unsubscribe(id);
  });
  bus.Publish("a", "{}");
  bus.Publish("a", "{}");
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace aimass::events
