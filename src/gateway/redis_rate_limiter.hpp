// RedisRateLimiter: the same two limits as RateLimiter, kept in Redis so that every gateway
// process sharing it enforces one allowance. Each decision is one Lua script run atomically
// by Redis on Redis's clock (TIME), so processes with skewed clocks still agree. Blocking
// calls on a small pool of connections with a short timeout. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status.hpp"
#include "gateway/rate_limiter.hpp"
#include "gateway/spec.hpp"

namespace aimass::gateway {

class RedisRateLimiter {
 public:
  // `url`: redis://[:password@]host[:port][/db]; the server is not contacted until first use.
  static Result<std::unique_ptr<RedisRateLimiter>> Create(const std::string& url,
                                                          std::chrono::milliseconds timeout = std::chrono::milliseconds(100));
  ~RedisRateLimiter();
  RedisRateLimiter(const RedisRateLimiter&) = delete;
  RedisRateLimiter& operator=(const RedisRateLimiter&) = delete;

  // Unavailable when Redis cannot be reached or answers an error; the caller decides.
  Result<RateDecision> Take(const std::string& key, const RateLimitSpec& spec);

 private:
  RedisRateLimiter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::gateway
