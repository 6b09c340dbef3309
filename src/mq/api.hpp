// The message queue's HTTP API under /api/v1/mq: topics, publish, subscriptions with
// long-poll fetch, ack/nack, seek, and dead letters. Publishing needs `mq:publish` (or
// `mq.<topic>:publish`), consuming `mq:consume` (or `mq.<topic pattern>:consume`).
#pragma once

#include <memory>

#include "auth/principal.hpp"
#include "http/router.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

struct ApiLimits {
  size_t max_fetch = 1000;         // messages per fetch at most
  int64_t max_wait_ms = 30000;     // long-poll at most
  size_t max_publish = 10000;      // messages per publish call at most
};

// `mq:<action>` over every topic, or `mq.<topic>:<action>` over one (a subscription's
// pattern counts as its topic); the HTTP API and the gRPC streams decide alike.
Status MayAct(const auth::Principal& who, const std::string& topic, const char* action);

class LongPoller;

// `poller` answers the long polls; App drains it when the server stops.
Status RegisterRoutes(http::Router& router, Broker& broker, std::shared_ptr<LongPoller> poller, ApiLimits limits = {});

}  // namespace aimass::mq
