// The message queue's HTTP API under /api/v1/mq: topics, publish, subscriptions with
// long-poll fetch, ack/nack, seek, and dead letters. Publishing needs `mq:publish` (or
// `mq.<topic>:publish`), consuming `mq:consume` (or `mq.<topic pattern>:consume`).
#pragma once

#include "http/router.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

struct ApiLimits {
  size_t max_fetch = 1000;         // messages per fetch at most
  int64_t max_wait_ms = 30000;     // long-poll at most
  size_t max_publish = 10000;      // messages per publish call at most
};

Status RegisterRoutes(http::Router& router, Broker& broker, ApiLimits limits = {});

}  // namespace aimass::mq
