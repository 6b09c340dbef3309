// A captured event as the capture API takes it (PostHog's shape: event, distinct_id, timestamp,
// properties, uuid), checked and normalised, and its compact form in the project's capture log.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::behavior {

struct Event {
  std::string uuid;         // the client's event id ("" when it gave none: never deduplicated)
  std::string event;        // its name: "purchase", "$pageview", "$identify", …
  std::string distinct_id;  // who did it
  int64_t time_ms = 0;      // Unix milliseconds
  nlohmann::json properties = nlohmann::json::object();
};

// Limits of one event (bigger ones are refused, not cut).
constexpr size_t kMaxName = 200;
constexpr size_t kMaxProperties = 1000;

// One event object. `now_ms` stands for a missing timestamp.
Result<Event> ParseEvent(const nlohmann::json& body, int64_t now_ms);
// A capture body: one event, {"batch": [event, …]}, or a bare array of events. Any malformed
// event refuses the whole body, naming its index.
Result<std::vector<Event>> ParseCapture(const nlohmann::json& body, int64_t now_ms);

// The capture log's records. A record is a batch of events, an alias, or person properties set
// by the platform (RFM segments, lifetime values); replaying the log in order rebuilds the state.
enum class RecordType : uint8_t { kEvents = 1, kAlias = 2, kPersonSet = 3 };

std::string EncodeEvents(const std::vector<Event>& events);
Result<std::vector<Event>> DecodeEvents(std::string_view data);

}  // namespace aimass::behavior
