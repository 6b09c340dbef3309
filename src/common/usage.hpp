// One call's usage, as the gateway and serving see it, and where they hand it: the analysis
// module's collector (an interface here, so that neither needs the module that counts).
// Record() is on the request path: an implementation must take a few hundred nanoseconds at
// most and never block on I/O.
#pragma once

#include <cstdint>
#include <string_view>

namespace aimass {

struct UsageRecord {
  std::string_view kind;         // gateway | inference
  std::string_view route;        // gateway: the route's name
  std::string_view application;  // gateway: the route's application (default its upstream or service)
  std::string_view consumer;     // who called: a consumer or a platform user ("" when anonymous)
  std::string_view deployment;   // inference: the deployment
  int64_t version = 0;           // inference: the model version that answered
  int status = 0;                // HTTP status
  double latency_ms = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  int64_t time_ms = 0;           // when it ended (Unix ms)
};

class UsageSink {
 public:
  virtual ~UsageSink() = default;
  virtual void Record(const UsageRecord& r) = 0;
};

}  // namespace aimass
