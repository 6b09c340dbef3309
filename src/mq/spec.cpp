#include "mq/spec.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/name.hpp"
#include "common/topic_pattern.hpp"

namespace aimass::mq {

using nlohmann::json;

Status ValidateTopicSpec(const TopicSpec& spec) {
  AIMASS_RETURN_IF_ERROR(ValidateName("topic", spec.name, 128));
  if (spec.partitions < 1 || spec.partitions > 1024) return Status::BadRequest("partitions must be 1 to 1024");
  if (spec.dedup_window_ms < 0) return Status::BadRequest("dedup_window_ms must not be negative");
  if (spec.retention.max_age_ms < 0) return Status::BadRequest("retention.max_age_ms must not be negative");
  return Status::Ok();
}

Status ValidateSubscriptionSpec(const SubscriptionSpec& spec) {
  AIMASS_RETURN_IF_ERROR(ValidateName("subscription", spec.name, 128));
  if (!ValidPattern(spec.topic)) {
    return Status::BadRequest("topic must be a topic name or a pattern of dot-separated segments, `*` or a final `>`");
  }
  if (spec.max_deliveries < 1 || spec.max_deliveries > 1000) return Status::BadRequest("max_deliveries must be 1 to 1000");
  if (spec.ack_timeout_ms < 1 || spec.ack_timeout_ms > 86400000) return Status::BadRequest("ack_timeout_ms must be 1 to 86400000");
  if (spec.backoff_ms < 0 || spec.max_backoff_ms < spec.backoff_ms) {
    return Status::BadRequest("backoff_ms must not be negative nor above max_backoff_ms");
  }
  return Status::Ok();
}

Status ValidateSeekTarget(const SeekTarget& target) {
  int set = target.offset.has_value() + target.time_ms.has_value() + target.earliest.has_value();
  if (set != 1) return Status::BadRequest("seek to exactly one of offset, time_ms or position");
  if (target.offset && (!target.topic || !target.partition)) return Status::BadRequest("an offset needs its topic and partition");
  return Status::Ok();
}

Status ValidateOutgoing(const std::vector<OutgoingMessage>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].delay_ms < 0 || messages[i].ttl_ms < 0) {
      return Status::BadRequest("messages[" + std::to_string(i) + "]: delay_ms and ttl_ms must not be negative");
    }
  }
  return Status::Ok();
}

json SpecJson(const TopicSpec& s) {
  json j = {{"name", s.name}, {"partitions", s.partitions}, {"dedup_window_ms", s.dedup_window_ms},
            {"retention", {{"max_age_ms", s.retention.max_age_ms}, {"max_bytes", s.retention.max_bytes},
                           {"max_messages", s.retention.max_messages}}}};
  if (s.fsync) j["fsync"] = FsyncPolicyName(*s.fsync);
  return j;
}

json SpecJson(const SubscriptionSpec& s) {
  return {{"name", s.name},           {"topic", s.topic},
          {"max_deliveries", s.max_deliveries}, {"ack_timeout_ms", s.ack_timeout_ms},
          {"backoff_ms", s.backoff_ms}, {"max_backoff_ms", s.max_backoff_ms},
          {"from_earliest", s.from_earliest}};
}

TopicSpec TopicSpecFromJson(const json& j) {
  TopicSpec s;
  s.name = j.value("name", "");
  s.partitions = j.value("partitions", 1u);
  s.dedup_window_ms = j.value("dedup_window_ms", int64_t{120000});
  if (j.contains("fsync") && j["fsync"].is_string()) {
    auto policy = ParseFsyncPolicy(j["fsync"].get<std::string>());
    if (policy.ok()) s.fsync = *policy;
  }
  if (j.contains("retention") && j["retention"].is_object()) {
    const json& r = j["retention"];
    s.retention.max_age_ms = r.value("max_age_ms", int64_t{0});
    s.retention.max_bytes = r.value("max_bytes", uint64_t{0});
    s.retention.max_messages = r.value("max_messages", uint64_t{0});
  }
  return s;
}

SubscriptionSpec SubscriptionSpecFromJson(const json& j) {
  SubscriptionSpec s;
  s.name = j.value("name", "");
  s.topic = j.value("topic", "");
  s.max_deliveries = j.value("max_deliveries", 5);
  s.ack_timeout_ms = j.value("ack_timeout_ms", int64_t{30000});
  s.backoff_ms = j.value("backoff_ms", int64_t{1000});
  s.max_backoff_ms = j.value("max_backoff_ms", int64_t{60000});
  s.from_earliest = j.value("from_earliest", false);
  return s;
}

uint32_t PartitionForKey(std::string_view key, uint32_t partitions) {
  uint32_t h = 2166136261u;
  for (unsigned char c : key) h = (h ^ c) * 16777619u;
  return h % partitions;
}

int64_t RedeliveryBackoffMs(const SubscriptionSpec& spec, int deliveries) {
  int shift = std::clamp(deliveries - 1, 0, 20);
  return std::min<int64_t>(spec.max_backoff_ms, spec.backoff_ms << shift);
}

void MarkDeadLetter(Message& m, std::string_view reason, int deliveries, const std::string* topic, uint32_t partition,
                    uint64_t offset) {
  std::erase_if(m.headers, [](const auto& h) { return h.first.starts_with("x-dead-letter-") || h.first == "x-delivery-count"; });
  m.headers.emplace_back("x-dead-letter-reason", std::string(reason));
  m.headers.emplace_back("x-delivery-count", std::to_string(deliveries));
  if (topic) {
    m.headers.emplace_back("x-original-topic", *topic);
    m.headers.emplace_back("x-original-partition", std::to_string(partition));
    m.headers.emplace_back("x-original-offset", std::to_string(offset));
  }
  m.deliver_at_ms = 0;
  m.expire_at_ms = 0;
}

std::string HeaderValue(const Message& m, std::string_view name) {
  for (const auto& [n, v] : m.headers) {
    if (n == name) return v;
  }
  return "";
}

}  // namespace aimass::mq
