// MeteredBroker: any mq::Broker with Prometheus metrics around it, so that the embedded log and
// a JetStream backend report alike:
//   aimass_mq_published_messages_total{topic}        accepted publishes (duplicates excluded)
//   aimass_mq_duplicate_messages_total{topic}        dropped by the dedup window
//   aimass_mq_publish_duration_seconds{topic}        until the fsync policy was met
//   aimass_mq_delivered_messages_total{subscription} handed to consumers (redeliveries too)
//   aimass_mq_redelivered_messages_total{subscription}
//   aimass_mq_acked_messages_total / _nacked_messages_total{subscription}
// and, read from the broker when /metrics is scraped (RefreshGauges):
//   aimass_mq_topic_messages{topic}, aimass_mq_topic_bytes{topic},
//   aimass_mq_subscription_backlog / _in_flight / _dead_letters{subscription}
// Thread-safe.
#pragma once

#include <memory>

#include "mq/broker.hpp"

namespace prometheus {
class Registry;
}

namespace aimass::mq {

std::unique_ptr<Broker> WithMetrics(std::unique_ptr<Broker> inner, std::shared_ptr<prometheus::Registry> registry);
// Brings the gauges of a broker made by WithMetrics up to date (the /metrics handler calls it).
void RefreshGauges(Broker& metered);

}  // namespace aimass::mq
