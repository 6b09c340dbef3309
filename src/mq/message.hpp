// Message: what a topic holds. Publishers fill key, headers, body and the optional delay,
// TTL and dedup id; the log stamps topic, partition, offset and time when it appends.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace aimass::mq {

struct Message {
  std::string topic;
  uint32_t partition = 0;
  uint64_t offset = 0;
  int64_t timestamp_ms = 0;   // append time
  int64_t deliver_at_ms = 0;  // 0: at once; else not visible to consumers before
  int64_t expire_at_ms = 0;   // 0: never; else dead-lettered ("expired") when not consumed by then
  std::string key;            // ordering key: same key, same partition, delivered in order
  std::string dedup_id;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// What a publisher sends; delay and TTL are relative to the append time.
struct OutgoingMessage {
  std::string key;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t delay_ms = 0;
  int64_t ttl_ms = 0;
  std::string dedup_id;
};

}  // namespace aimass::mq
