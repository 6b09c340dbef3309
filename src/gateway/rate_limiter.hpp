// RateLimiter: the gateway's local request limits, a token bucket or a sliding window per key
// (route, consumer or client IP, chosen by the route). Local to this process; limits shared
// between gateway processes will sit behind the same Take. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/spec.hpp"

namespace aimass::gateway {

struct RateDecision {
  bool allowed = true;
  int64_t limit = 0;         // RateLimit-Limit: requests per window (the burst for a bucket)
  int64_t remaining = 0;     // RateLimit-Remaining
  double reset_s = 0;        // RateLimit-Reset: until the window resets / the bucket is full
  double retry_after_s = 0;  // when refused: until one request would be allowed
};

// What both limiters (this one and RedisRateLimiter) answer, from the state they keep.
// A token bucket holds BucketSize(spec) tokens at most; `tokens` is what is left after this
// request (one taken when allowed).
double BucketSize(const RateLimitSpec& spec);
RateDecision BucketDecision(const RateLimitSpec& spec, bool allowed, double tokens);
// A sliding window: `used` requests counted before this one, `into` (0..1) through the current
// fixed window, `previous` requests in the one before.
RateDecision WindowDecision(const RateLimitSpec& spec, bool allowed, double used, double into, double previous);

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes one request from `key`'s allowance under `spec`.
  RateDecision Take(const std::string& key, const RateLimitSpec& spec, Clock::time_point now = Clock::now());

  // Forgets every key (a route's limit changed, so its keys start afresh).
  void Clear();
  size_t keys() const;

 private:
  struct State {
    double tokens = -1;  // token bucket; -1: new
    Clock::time_point last{};  // last request (both algorithms)
    int64_t window = -1;      // sliding window: index of the current window
    int64_t current = 0;      // requests in it
    int64_t previous = 0;     // requests in the one before
  };
  void SweepIdle(Clock::time_point now);

  mutable std::mutex mu_;
  std::unordered_map<std::string, State> states_;
  Clock::time_point last_sweep_{};
};

}  // namespace aimass::gateway
