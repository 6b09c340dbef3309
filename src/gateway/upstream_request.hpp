// The header block the gateway sends upstream for a caller's request: the caller's fields less
// hop-by-hop ones and the credentials the gateway consumed, then X-Forwarded-For/-Proto/-Host,
// X-Request-Id, traceparent (this hop as the new parent) and X-Consumer. A pure function of its
// inputs (randomness comes in as a function), unit-tested in tests/gateway/.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.hpp"

namespace aimass::gateway {

// Hop-by-hop headers (RFC 9110 §7.6.1) and those the client or server sets itself: false for
// those, in either direction.
bool Forwardable(std::string_view name);

struct UpstreamFieldsInput {
  const http::Headers* headers = nullptr;  // the caller's
  std::string_view client_ip;
  std::string_view request_id;
  std::string_view consumer;     // empty: none
  bool strip_credentials = true; // the route checked them: Authorization, apikey, X-API-Key stay here
  // The route's own fields, replacing the caller's of the same names.
  const std::vector<std::pair<std::string, std::string>>* extra = nullptr;
  // Appends `bytes` random bytes as lower-case hex (common/random: AppendUniqueHex).
  void (*random_hex)(std::string& out, size_t bytes) = nullptr;
};

// Appends the fields to `fields` ("Name: value\r\n" each); true when the caller sent a
// User-Agent (the client then adds none).
bool AppendUpstreamFields(std::string& fields, const UpstreamFieldsInput& in);

// W3C Trace Context: keeps the caller's trace id and flags and names this hop as the new parent;
// a missing or malformed header starts a new trace. Appends the 55-character value.
void AppendNextTraceparent(std::string& out, std::optional<std::string_view> incoming,
                           void (*random_hex)(std::string& out, size_t bytes));

}  // namespace aimass::gateway
