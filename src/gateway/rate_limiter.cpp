#include "gateway/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace aimass::gateway {

namespace {
constexpr size_t kSweepAbove = 100'000;  // keys kept before idle ones are dropped
}

double BucketSize(const RateLimitSpec& spec) {
  return spec.burst > 0 ? static_cast<double>(spec.burst) : std::max(1.0, spec.rate);
}

RateDecision BucketDecision(const RateLimitSpec& spec, bool allowed, double tokens) {
  const double per_second = spec.rate / spec.per_seconds();
  const double burst = BucketSize(spec);
  RateDecision d;
  d.allowed = allowed;
  d.limit = static_cast<int64_t>(burst);
  d.remaining = allowed ? static_cast<int64_t>(std::floor(tokens)) : 0;
  d.reset_s = (burst - tokens) / per_second;
  if (!allowed) d.retry_after_s = (1 - tokens) / per_second;
  return d;
}

RateDecision WindowDecision(const RateLimitSpec& spec, bool allowed, double used, double into, double previous) {
  const double window_s = spec.per_seconds();
  const double limit = std::floor(spec.rate);
  RateDecision d;
  d.allowed = allowed;
  d.limit = static_cast<int64_t>(limit);
  d.reset_s = (1 - into) * window_s;
  if (allowed) {
    d.remaining = static_cast<int64_t>(std::max(0.0, limit - used - 1));
    return d;
  }
  // The previous window's weight falls as time passes; when it has fallen enough, or when a
  // new window starts with none of this one's requests forgotten, one more fits.
  double wait = d.reset_s;
  if (previous > 0) wait = std::min(wait, (used + 1 - limit) / previous * window_s);  // weight that must fall away
  d.retry_after_s = std::max(wait, 0.001);
  return d;
}

RateDecision RateLimiter::Take(const std::string& key, const RateLimitSpec& spec, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (states_.size() > kSweepAbove) SweepIdle(now);
  State& s = states_[key];
  const double window_s = spec.per_seconds();

  if (spec.algorithm == RateAlgorithm::kSlidingWindow) {
    // Two fixed windows, the previous one weighted by how much of it still overlaps the
    // sliding window (the estimate Cloudflare and Kong use): O(1) memory per key.
    const auto since = std::chrono::duration<double>(now.time_since_epoch()).count();
    const int64_t index = static_cast<int64_t>(std::floor(since / window_s));
    if (s.window != index) {
      s.previous = s.window == index - 1 ? s.current : 0;
      s.current = 0;
      s.window = index;
    }
    s.last = now;
    const double into = since / window_s - static_cast<double>(index);  // 0..1
    const double used = static_cast<double>(s.previous) * (1 - into) + static_cast<double>(s.current);
    const bool allowed = used + 1 <= std::floor(spec.rate);
    if (allowed) ++s.current;
    return WindowDecision(spec, allowed, used, into, static_cast<double>(s.previous));
  }

  const double burst = BucketSize(spec);
  if (s.tokens < 0) {
    s.tokens = burst;
  } else {
    double elapsed = std::chrono::duration<double>(now - s.last).count();
    s.tokens = std::min(burst, s.tokens + std::max(0.0, elapsed) * spec.rate / window_s);
  }
  s.last = now;
  const bool allowed = s.tokens >= 1;
  if (allowed) s.tokens -= 1;
  return BucketDecision(spec, allowed, s.tokens);
}

void RateLimiter::SweepIdle(Clock::time_point now) {
  if (now - last_sweep_ < std::chrono::seconds(1)) return;
  last_sweep_ = now;
  // A key untouched for an hour has a full bucket / empty windows for every limit we allow
  // (the longest window is an hour), so forgetting it changes no answer.
  for (auto it = states_.begin(); it != states_.end();) {
    bool idle = now - it->second.last > std::chrono::hours(1);
    it = idle ? states_.erase(it) : std::next(it);
  }
}

void RateLimiter::Clear() {
  std::lock_guard lock(mu_);
  states_.clear();
}

size_t RateLimiter::keys() const {
  std::lock_guard lock(mu_);
  return states_.size();
}

}  // namespace aimass::gateway
