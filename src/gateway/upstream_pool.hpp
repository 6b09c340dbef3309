// UpstreamPool: the live side of an upstream: per target, the requests in flight, a latency
// moving average and the passive-ejection state; and the balancing rule that picks a target for
// a request. Thread-safe (one small mutex per upstream).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "gateway/spec.hpp"
#include "http/client.hpp"

namespace aimass::gateway {

class UpstreamPool {
 public:
  using Clock = std::chrono::steady_clock;

  explicit UpstreamPool(UpstreamSpec spec);

  const UpstreamSpec& spec() const { return spec_; }
  // Target `i`'s URL split once (host, port, and its path prefix as `target`, empty when the
  // URL has none); null when it does not parse.
  const http::Url* url(size_t i) const { return urls_[i] ? &*urls_[i] : nullptr; }

  // A target for the next attempt, skipping those in `tried`, targets of weight 0 and ejected
  // ones; when every remaining target is ejected, the least recently ejected is tried anyway
  // (better a likely failure than a certain one). `hash_key` is used by consistent hashing.
  // Counts the attempt as in flight until Finish.
  std::optional<size_t> Pick(std::string_view hash_key, std::span<const size_t> tried);
  // The attempt on target `i` ended: `reachable` false for a transport failure (refused,
  // reset, timed out), which counts towards ejection; any HTTP answer resets the count.
  void Finish(size_t i, bool reachable, std::chrono::nanoseconds latency);

  // Per target: url, weight, in_flight, ewma_ms, consecutive_failures, ejected, ejected_for_s,
  // healthy (active checks).
  nlohmann::json Health() const;

  // The circuit breaker (always closed without a circuit_breaker spec). AdmitRequest once per
  // request before its first attempt; ReportOutcome once with its final result.
  enum class Circuit { kClosed, kOpen, kHalfOpen };
  struct Admission {
    bool allowed = true;
    bool trial = false;          // a half-open trial: its outcome decides the circuit
    double retry_after_s = 0;    // when refused
  };
  Admission AdmitRequest(Clock::time_point now = Clock::now());
  void ReportOutcome(bool failed, bool trial, Clock::time_point now = Clock::now());
  Circuit circuit() const;
  // {"state": "closed|open|half_open", "open_for_s", "window_requests", "window_failures"}
  nlohmann::json CircuitJson() const;

  // Active health checks: whether they are due (and, if so, the next is scheduled), and a
  // check's result for target `i`.
  bool HealthCheckDue(Clock::time_point now);
  void SetCheckResult(size_t i, bool passed);

 private:
  struct TargetState {
    int64_t current = 0;  // smooth weighted round robin
    int64_t in_flight = 0;
    double ewma_ns = 0;
    int failures = 0;     // consecutive transport failures
    int ejections = 0;    // consecutive ejections (the ejection time doubles with each)
    Clock::time_point ejected_until{};
    bool healthy = true;  // active checks
    int check_passes = 0, check_failures = 0;
  };
  bool Eligible(size_t i, std::span<const size_t> tried, Clock::time_point now, bool ignore_ejection) const;
  std::optional<size_t> Choose(std::string_view hash_key, std::span<const size_t> tried, Clock::time_point now,
                               bool ignore_ejection);

  UpstreamSpec spec_;
  std::vector<std::optional<http::Url>> urls_;
  std::vector<std::pair<uint64_t, size_t>> ring_;  // consistent hashing: (point, target), sorted
  mutable std::mutex mu_;
  std::vector<TargetState> state_;
  Circuit circuit_ = Circuit::kClosed;
  Clock::time_point window_start_{};
  int64_t window_requests_ = 0, window_failures_ = 0;
  Clock::time_point open_until_{};
  int trials_in_flight_ = 0, trial_successes_ = 0;
  Clock::time_point next_check_{};
};

// FNV-1a, 64 bit, with MurmurHash3's finaliser: stable across processes and builds, so that two
// gateways hash a key alike.
uint64_t Fnv1a(std::string_view s);

}  // namespace aimass::gateway
