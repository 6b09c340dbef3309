#include "mq/json.hpp"

#include "common/text.hpp"
#include "http/json.hpp"

namespace aimass::mq {

using nlohmann::json;

namespace {

Status CheckKeys(const json& body, std::initializer_list<const char*> known) {
  for (const auto& item : body.items()) {
    const std::string& k = item.key();  // not a structured binding: clang 14 cannot capture one
    if (std::none_of(known.begin(), known.end(), [&](const char* n) { return k == n; })) {
      return Status::BadRequest("unknown field '" + k.substr(0, 64) + "'");
    }
  }
  return Status::Ok();
}

Result<int64_t> IntIn(const json& body, const char* key, int64_t def, int64_t min, int64_t max) {
  AIMASS_ASSIGN_OR_RETURN(auto v, http::OptionalInt(body, key));
  if (!v) return def;
  if (*v < min || *v > max) {
    return Status::BadRequest(std::string(key) + " must be " + std::to_string(min) + " to " + std::to_string(max));
  }
  return *v;
}

json HeadersJson(const std::vector<std::pair<std::string, std::string>>& headers) {
  json h = json::object();
  for (const auto& [n, v] : headers) h[n] = v;
  return h;
}

json MessageJson(const Message& m) {
  json j = {{"topic", m.topic},     {"partition", m.partition},       {"offset", m.offset},
            {"key", m.key},         {"headers", HeadersJson(m.headers)}, {"body", m.body},
            {"timestamp_ms", m.timestamp_ms}};
  // JSON strings are UTF-8: other bytes (a gRPC or base64 publish) go as base64 and say so.
  if (!IsValidUtf8(m.body)) {
    j["body"] = Base64Encode(m.body);
    j["body_encoding"] = "base64";
  }
  if (m.deliver_at_ms) j["deliver_at_ms"] = m.deliver_at_ms;
  if (m.expire_at_ms) j["expire_at_ms"] = m.expire_at_ms;
  if (!m.dedup_id.empty()) j["dedup_id"] = m.dedup_id;
  return j;
}

}  // namespace

Result<TopicSpec> ParseTopicSpec(const json& body) {
  AIMASS_RETURN_IF_ERROR(CheckKeys(body, {"name", "partitions", "fsync", "retention", "dedup_window_ms"}));
  TopicSpec s;
  AIMASS_ASSIGN_OR_RETURN(s.name, http::RequiredString(body, "name"));
  AIMASS_ASSIGN_OR_RETURN(int64_t partitions, IntIn(body, "partitions", 1, 1, 1024));
  s.partitions = static_cast<uint32_t>(partitions);
  AIMASS_ASSIGN_OR_RETURN(auto fsync, http::OptionalString(body, "fsync"));
  if (fsync) {
    AIMASS_ASSIGN_OR_RETURN(FsyncPolicy policy, ParseFsyncPolicy(*fsync));
    s.fsync = policy;
  }
  AIMASS_ASSIGN_OR_RETURN(s.dedup_window_ms, IntIn(body, "dedup_window_ms", 120000, 0, 7 * 86400000ll));
  if (auto r = body.find("retention"); r != body.end()) {
    if (!r->is_object()) return Status::BadRequest("retention must be an object");
    AIMASS_RETURN_IF_ERROR(CheckKeys(*r, {"max_age_ms", "max_bytes", "max_messages"}));
    AIMASS_ASSIGN_OR_RETURN(s.retention.max_age_ms, IntIn(*r, "max_age_ms", 0, 0, INT64_MAX));
    AIMASS_ASSIGN_OR_RETURN(int64_t bytes, IntIn(*r, "max_bytes", 0, 0, INT64_MAX));
    AIMASS_ASSIGN_OR_RETURN(int64_t count, IntIn(*r, "max_messages", 0, 0, INT64_MAX));
    s.retention.max_bytes = static_cast<uint64_t>(bytes);
    s.retention.max_messages = static_cast<uint64_t>(count);
  }
  return s;
}

Result<SubscriptionSpec> ParseSubscriptionSpec(const json& body) {
  AIMASS_RETURN_IF_ERROR(CheckKeys(
      body, {"name", "topic", "max_deliveries", "ack_timeout_ms", "backoff_ms", "max_backoff_ms", "start"}));
  SubscriptionSpec s;
  AIMASS_ASSIGN_OR_RETURN(s.name, http::RequiredString(body, "name"));
  AIMASS_ASSIGN_OR_RETURN(s.topic, http::RequiredString(body, "topic"));
  AIMASS_ASSIGN_OR_RETURN(int64_t md, IntIn(body, "max_deliveries", 5, 1, 1000));
  s.max_deliveries = static_cast<int>(md);
  AIMASS_ASSIGN_OR_RETURN(s.ack_timeout_ms, IntIn(body, "ack_timeout_ms", 30000, 1, 86400000));
  AIMASS_ASSIGN_OR_RETURN(s.backoff_ms, IntIn(body, "backoff_ms", 1000, 0, 86400000));
  AIMASS_ASSIGN_OR_RETURN(s.max_backoff_ms, IntIn(body, "max_backoff_ms", std::max<int64_t>(60000, s.backoff_ms), 0, 86400000));
  AIMASS_ASSIGN_OR_RETURN(auto start, http::OptionalString(body, "start"));
  if (start && *start != "earliest" && *start != "latest") return Status::BadRequest("start must be earliest or latest");
  s.from_earliest = start && *start == "earliest";
  return s;
}

Result<std::vector<OutgoingMessage>> ParseOutgoing(const json& body, size_t max_messages) {
  AIMASS_RETURN_IF_ERROR(CheckKeys(body, {"messages"}));
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty()) return Status::BadRequest("messages must be a non-empty array");
  if (it->size() > max_messages) {
    return Status::BadRequest("at most " + std::to_string(max_messages) + " messages per publish");
  }
  std::vector<OutgoingMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Status::BadRequest(where + " must be an object");
    if (Status st = CheckKeys(m, {"key", "headers", "body", "body_encoding", "delay_ms", "ttl_ms", "dedup_id"}); !st.ok()) {
      return Status::BadRequest(where + ": " + st.message());
    }
    OutgoingMessage o;
    auto field = [&](const char* key, std::string& to) -> Status {
      auto v = http::OptionalString(m, key);
      if (!v.ok()) return Status::BadRequest(where + ": " + v.status().message());
      if (*v) to = std::move(**v);
      return Status::Ok();
    };
    AIMASS_RETURN_IF_ERROR(field("key", o.key));
    AIMASS_RETURN_IF_ERROR(field("dedup_id", o.dedup_id));
    if (o.key.size() > 1024 || o.dedup_id.size() > 1024) return Status::BadRequest(where + ": key and dedup_id are 1024 bytes at most");
    if (auto b = m.find("body"); b != m.end()) o.body = b->is_string() ? b->get<std::string>() : b->dump();
    std::string encoding;
    AIMASS_RETURN_IF_ERROR(field("body_encoding", encoding));
    if (encoding == "base64") {
      auto bytes = Base64Decode(o.body);
      if (!bytes || !m.contains("body") || !m["body"].is_string()) {
        return Status::BadRequest(where + ": body is not base64 (body_encoding is base64)");
      }
      o.body = std::move(*bytes);
    } else if (!encoding.empty() && encoding != "utf8") {
      return Status::BadRequest(where + ": body_encoding must be utf8 or base64");
    }
    if (auto h = m.find("headers"); h != m.end()) {
      if (!h->is_object()) return Status::BadRequest(where + ": headers must be an object of strings");
      for (const auto& [n, v] : h->items()) {
        if (!v.is_string() || n.empty()) return Status::BadRequest(where + ": headers must be an object of strings");
        o.headers.emplace_back(n, v.get<std::string>());
      }
    }
    auto delay = IntIn(m, "delay_ms", 0, 0, 366 * 86400000ll);
    auto ttl = IntIn(m, "ttl_ms", 0, 0, 366 * 86400000ll);
    if (!delay.ok()) return Status::BadRequest(where + ": " + delay.status().message());
    if (!ttl.ok()) return Status::BadRequest(where + ": " + ttl.status().message());
    o.delay_ms = *delay;
    o.ttl_ms = *ttl;
    out.push_back(std::move(o));
  }
  return out;
}

Result<SeekTarget> ParseSeekTarget(const json& body) {
  AIMASS_RETURN_IF_ERROR(CheckKeys(body, {"topic", "partition", "offset", "time_ms", "position"}));
  SeekTarget t;
  AIMASS_ASSIGN_OR_RETURN(t.topic, http::OptionalString(body, "topic"));
  AIMASS_ASSIGN_OR_RETURN(auto partition, http::OptionalInt(body, "partition"));
  if (partition) {
    if (*partition < 0 || *partition > 1023) return Status::BadRequest("partition must be 0 to 1023");
    t.partition = static_cast<uint32_t>(*partition);
  }
  AIMASS_ASSIGN_OR_RETURN(auto offset, http::OptionalInt(body, "offset"));
  if (offset) {
    if (*offset < 0) return Status::BadRequest("offset must not be negative");
    t.offset = static_cast<uint64_t>(*offset);
  }
  AIMASS_ASSIGN_OR_RETURN(t.time_ms, http::OptionalInt(body, "time_ms"));
  AIMASS_ASSIGN_OR_RETURN(auto position, http::OptionalString(body, "position"));
  if (position) {
    if (*position != "earliest" && *position != "latest") return Status::BadRequest("position must be earliest or latest");
    t.earliest = *position == "earliest";
  }
  return t;
}

json ToJson(const TopicInfo& t) {
  json j = {{"name", t.spec.name},
            {"partitions", t.spec.partitions},
            {"fsync", FsyncPolicyName(t.fsync)},
            {"dedup_window_ms", t.spec.dedup_window_ms},
            {"retention", {{"max_age_ms", t.spec.retention.max_age_ms}, {"max_bytes", t.spec.retention.max_bytes},
                           {"max_messages", t.spec.retention.max_messages}}},
            {"created_ms", t.created_ms},
            {"messages", t.messages},
            {"bytes", t.bytes},
            {"next_offsets", t.next_offsets}};
  return j;
}

json ToJson(const SubscriptionInfo& s) {
  return {{"name", s.spec.name},
          {"topic", s.spec.topic},
          {"max_deliveries", s.spec.max_deliveries},
          {"ack_timeout_ms", s.spec.ack_timeout_ms},
          {"backoff_ms", s.spec.backoff_ms},
          {"max_backoff_ms", s.spec.max_backoff_ms},
          {"start", s.spec.from_earliest ? "earliest" : "latest"},
          {"created_ms", s.created_ms},
          {"topics", s.topics},
          {"backlog", s.backlog},
          {"in_flight", s.in_flight},
          {"dead_letters", s.dead_letters}};
}

json ToJson(const Delivery& d) {
  json j = MessageJson(d.message);
  j["id"] = d.id;
  j["deliveries"] = d.deliveries;
  return j;
}

json ToJson(const DeadLetter& d) {
  json j = MessageJson(d.message);
  j["id"] = d.id;
  j["reason"] = d.reason;
  return j;
}

}  // namespace aimass::mq
