// What every Broker implementation checks and stores the same way: the rules for topic and
// subscription specs and seek targets, their stored JSON form, the partition a key goes to, and
// the headers a message gets when it becomes a dead letter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

Status ValidateTopicSpec(const TopicSpec& spec);
Status ValidateSubscriptionSpec(const SubscriptionSpec& spec);
Status ValidateSeekTarget(const SeekTarget& target);
// Delay and TTL must not be negative.
Status ValidateOutgoing(const std::vector<OutgoingMessage>& messages);

nlohmann::json SpecJson(const TopicSpec& spec);
nlohmann::json SpecJson(const SubscriptionSpec& spec);
// The stored form read back; a field that is missing takes its default.
TopicSpec TopicSpecFromJson(const nlohmann::json& j);
SubscriptionSpec SubscriptionSpecFromJson(const nlohmann::json& j);

// Same key, same partition (FNV-1a): what keeps a key's messages in order.
uint32_t PartitionForKey(std::string_view key, uint32_t partitions);

// The redelivery delay before delivery `deliveries + 1`: backoff_ms doubling, capped.
int64_t RedeliveryBackoffMs(const SubscriptionSpec& spec, int deliveries);

// Rewrites m's headers for the dead-letter queue: x-dead-letter-reason, x-delivery-count and,
// when `topic` is given, x-original-topic/-partition/-offset (a dead letter that died again
// after a replay keeps its first origin). Delay and TTL are cleared.
void MarkDeadLetter(Message& m, std::string_view reason, int deliveries, const std::string* topic, uint32_t partition,
                    uint64_t offset);
// The value of header `name`, or "" when absent.
std::string HeaderValue(const Message& m, std::string_view name);

}  // namespace aimass::mq
