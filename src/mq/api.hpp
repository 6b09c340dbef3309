// The message queue's HTTP API under /api/v1/mq: topics, publish, subscriptions with
// long-poll fetch, ack/nack, seek, and dead letters. Publishing needs `mq:publish` (or
// `mq.<topic>:publish`), consuming `mq:consume` (or `mq.<topic pattern>:consume`).
#pragma once

#include <memory>

#include "common/principal.hpp"
#include "http/router.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

struct ApiLimits {
  size_t max_fetch = 1000;         // messages per fetch at most
  int64_t max_wait_ms = 30000;     // long-poll at most
  size_t max_publish = 10000;      // messages per publish call at most
};

class LongPoller;

// `poller` answers the long polls; App drains it when the server stops.
Status RegisterRoutes(http::Router& router, Broker& broker, std::shared_ptr<LongPoller> poller, ApiLimits limits = {});

}  // namespace aimass::mq
