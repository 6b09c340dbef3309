#include "gateway/upstream_pool.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/fnv1a.hpp"

namespace aimass::gateway {

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = aimass::Fnv1a(s);
  // FNV alone keeps keys that differ in their last characters (user-1, user-2) close together
  // on the ring; MurmurHash3's finaliser spreads them.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

UpstreamPool::UpstreamPool(UpstreamSpec spec) : spec_(std::move(spec)), state_(spec_.targets.size()) {
  for (const auto& t : spec_.targets) {
    auto u = http::ParseUrl(t.url);
    if (u.ok()) {
      // ParseUrl says "/" for a URL without a path; the request's own path follows the prefix.
      size_t slash = t.url.find('/', std::string_view("http://").size());
      u->target = slash == std::string::npos ? "" : t.url.substr(slash);
      urls_.push_back(std::move(*u));
    } else {
      urls_.emplace_back();
    }
  }
  if (spec_.balance == Balance::kConsistentHash) {
    // Points per target in proportion to its weight (40 per 100), so that adding or removing a
    // target moves only its share of keys.
    for (size_t i = 0; i < spec_.targets.size(); ++i) {
      int points = spec_.targets[i].weight * 40 / 100;
      for (int p = 0; p < points; ++p) {
        ring_.emplace_back(Fnv1a(spec_.targets[i].url + "#" + std::to_string(p)), i);
      }
    }
    std::sort(ring_.begin(), ring_.end());
  }
}

bool UpstreamPool::Eligible(size_t i, std::span<const size_t> tried, Clock::time_point now,
                            bool ignore_ejection) const {
  if (spec_.targets[i].weight == 0) return false;
  if (std::find(tried.begin(), tried.end(), i) != tried.end()) return false;
  return ignore_ejection || (state_[i].ejected_until <= now && state_[i].healthy);
}

std::optional<size_t> UpstreamPool::Choose(std::string_view hash_key, std::span<const size_t> tried,
                                           Clock::time_point now, bool ignore_ejection) {
  const size_t n = spec_.targets.size();
  std::optional<size_t> best;
  switch (spec_.balance) {
    case Balance::kRoundRobin: {
      // nginx's smooth weighted round robin: spreads a heavy target's turns evenly.
      int64_t total = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!Eligible(i, tried, now, ignore_ejection)) continue;
        state_[i].current += spec_.targets[i].weight;
        total += spec_.targets[i].weight;
        if (!best || state_[i].current > state_[*best].current) best = i;
      }
      if (best) state_[*best].current -= total;
      break;
    }
    case Balance::kLeastConnections: {
      for (size_t i = 0; i < n; ++i) {
        if (!Eligible(i, tried, now, ignore_ejection)) continue;
        // fewest in flight per unit of weight; a cross-multiplication avoids division
        if (!best || (state_[i].in_flight + 1) * spec_.targets[*best].weight <
                         (state_[*best].in_flight + 1) * spec_.targets[i].weight) {
          best = i;
        }
      }
      break;
    }
    case Balance::kConsistentHash: {
      if (ring_.empty()) break;
      uint64_t h = Fnv1a(hash_key);
      auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(h, size_t{0}));
      for (size_t step = 0; step < ring_.size(); ++step, ++it) {
        if (it == ring_.end()) it = ring_.begin();
        if (Eligible(it->second, tried, now, ignore_ejection)) {
          best = it->second;
          break;
        }
      }
      break;
    }
    case Balance::kEwma: {
      // Lowest expected wait: latency average × (requests in flight + 1), per unit of weight.
      // A target never measured scores 0 and is tried first.
      double best_score = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!Eligible(i, tried, now, ignore_ejection)) continue;
        double score = state_[i].ewma_ns * static_cast<double>(state_[i].in_flight + 1) / spec_.targets[i].weight;
        if (!best || score < best_score) {
          best = i;
          best_score = score;
        }
      }
      break;
    }
  }
  return best;
}

std::optional<size_t> UpstreamPool::Pick(std::string_view hash_key, std::span<const size_t> tried) {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  auto best = Choose(hash_key, tried, now, false);
  if (!best) {
    // Everything left is ejected: try the one whose ejection ends first.
    for (size_t i = 0; i < spec_.targets.size(); ++i) {
      if (Eligible(i, tried, now, true) && (!best || state_[i].ejected_until < state_[*best].ejected_until)) best = i;
    }
  }
  if (best) ++state_[*best].in_flight;
  return best;
}

void UpstreamPool::Finish(size_t i, bool reachable, std::chrono::nanoseconds latency) {
  std::lock_guard lock(mu_);
  TargetState& t = state_.at(i);
  --t.in_flight;
  if (reachable) {
    t.failures = 0;
    t.ejections = 0;
    double ns = static_cast<double>(latency.count());
    t.ewma_ns = t.ewma_ns == 0 ? ns : 0.8 * t.ewma_ns + 0.2 * ns;
    return;
  }
  if (++t.failures >= spec_.eject_after_failures) {
    t.failures = 0;
    int doubling = std::min(t.ejections, 4);
    ++t.ejections;
    t.ejected_until = Clock::now() + std::chrono::seconds(spec_.eject_s << doubling);
  }
}

nlohmann::json UpstreamPool::Health() const {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < spec_.targets.size(); ++i) {
    const TargetState& t = state_[i];
    bool ejected = t.ejected_until > now;
    out.push_back({{"url", spec_.targets[i].url},
                   {"weight", spec_.targets[i].weight},
                   {"in_flight", t.in_flight},
                   {"ewma_ms", t.ewma_ns / 1e6},
                   {"consecutive_failures", t.failures},
                   {"ejected", ejected},
                   {"healthy", t.healthy},
                   {"ejected_for_s", ejected ? std::chrono::duration<double>(t.ejected_until - now).count() : 0.0}});
  }
  return out;
}

UpstreamPool::Admission UpstreamPool::AdmitRequest(Clock::time_point now) {
  Admission a;
  if (!spec_.circuit_breaker) return a;
  std::lock_guard lock(mu_);
  if (circuit_ == Circuit::kOpen) {
    if (now < open_until_) {
      a.allowed = false;
      a.retry_after_s = std::chrono::duration<double>(open_until_ - now).count();
      return a;
    }
    circuit_ = Circuit::kHalfOpen;
    trials_in_flight_ = 0;
    trial_successes_ = 0;
  }
  if (circuit_ == Circuit::kHalfOpen) {
    if (trials_in_flight_ + trial_successes_ >= spec_.circuit_breaker->half_open_requests) {
      a.allowed = false;
      a.retry_after_s = 1;
      return a;
    }
    ++trials_in_flight_;
    a.trial = true;
  }
  return a;
}

void UpstreamPool::ReportOutcome(bool failed, bool trial, Clock::time_point now) {
  if (!spec_.circuit_breaker) return;
  const CircuitBreakerSpec& cb = *spec_.circuit_breaker;
  std::lock_guard lock(mu_);
  if (trial) {
    if (circuit_ != Circuit::kHalfOpen) return;
    --trials_in_flight_;
    if (failed) {
      circuit_ = Circuit::kOpen;
      open_until_ = now + std::chrono::seconds(cb.open_s);
    } else if (++trial_successes_ >= cb.half_open_requests) {
      circuit_ = Circuit::kClosed;
      window_start_ = now;
      window_requests_ = window_failures_ = 0;
    }
    return;
  }
  if (circuit_ != Circuit::kClosed) return;  // admitted before the circuit opened
  if (now - window_start_ >= std::chrono::seconds(cb.window_s)) {
    window_start_ = now;
    window_requests_ = window_failures_ = 0;
  }
  ++window_requests_;
  if (failed) ++window_failures_;
  if (window_requests_ >= cb.min_requests &&
      static_cast<double>(window_failures_) >= cb.failure_ratio * static_cast<double>(window_requests_)) {
    circuit_ = Circuit::kOpen;
    open_until_ = now + std::chrono::seconds(cb.open_s);
  }
}

UpstreamPool::Circuit UpstreamPool::circuit() const {
  std::lock_guard lock(mu_);
  // An open circuit whose time is up is half-open for the next request.
  if (circuit_ == Circuit::kOpen && Clock::now() >= open_until_) return Circuit::kHalfOpen;
  return circuit_;
}

nlohmann::json UpstreamPool::CircuitJson() const {
  Circuit c = circuit();
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  return {{"enabled", spec_.circuit_breaker.has_value()},
          {"state", c == Circuit::kClosed ? "closed" : c == Circuit::kOpen ? "open" : "half_open"},
          {"open_for_s", c == Circuit::kOpen ? std::chrono::duration<double>(open_until_ - now).count() : 0.0},
          {"window_requests", window_requests_},
          {"window_failures", window_failures_}};
}

bool UpstreamPool::HealthCheckDue(Clock::time_point now) {
  if (!spec_.health_check) return false;
  std::lock_guard lock(mu_);
  if (now < next_check_) return false;
  next_check_ = now + std::chrono::seconds(spec_.health_check->interval_s);
  return true;
}

void UpstreamPool::SetCheckResult(size_t i, bool passed) {
  std::lock_guard lock(mu_);
  TargetState& t = state_.at(i);
  if (passed) {
    t.check_failures = 0;
    if (!t.healthy && ++t.check_passes >= spec_.health_check->healthy_after) t.healthy = true;
  } else {
    t.check_passes = 0;
    if (t.healthy && ++t.check_failures >= spec_.health_check->unhealthy_after) t.healthy = false;
  }
}

}  // namespace aimass::gateway
