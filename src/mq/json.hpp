// The JSON forms of the message queue's API: request bodies parsed into specs (bad input is a
// bad_request naming the field) and broker results rendered.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "common/status.hpp"
#include "mq/broker.hpp"

namespace aimass::mq {

Result<TopicSpec> ParseTopicSpec(const nlohmann::json& body);
Result<SubscriptionSpec> ParseSubscriptionSpec(const nlohmann::json& body);
// {"messages":[{"key","headers":{…},"body","delay_ms","ttl_ms","dedup_id"}]}; a body that is
// not a string is stored as its JSON text.
Result<std::vector<OutgoingMessage>> ParseOutgoing(const nlohmann::json& body, size_t max_messages);
// {"topic","partition","offset"} | {"time_ms"} | {"position":"earliest"|"latest"}
Result<SeekTarget> ParseSeekTarget(const nlohmann::json& body);

nlohmann::json ToJson(const TopicInfo& t);
nlohmann::json ToJson(const SubscriptionInfo& s);
nlohmann::json ToJson(const Delivery& d);
nlohmann::json ToJson(const DeadLetter& d);

}  // namespace aimass::mq
