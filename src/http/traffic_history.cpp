#include "http/traffic_history.hpp"

#include <prometheus/registry.h>

#include <cmath>

#include "common/thread_name.hpp"
#include "common/time.hpp"

namespace aimass::http {

double QuantileMs(const std::map<double, double>& before, const std::map<double, double>& after, double q) {
  std::vector<std::pair<double, double>> delta;  // upper bound, cumulative count in the interval
  for (const auto& [bound, count] : after) {
    auto b = before.find(bound);
    delta.emplace_back(bound, count - (b == before.end() ? 0 : b->second));
  }
  if (delta.empty() || delta.back().second <= 0) return 0;
  const double total = delta.back().second;  // the +Inf bucket counts every request
  const double rank = q * total;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : delta) {
    if (count >= rank) {
      // Past the last finite bound there is nothing to interpolate to: the bound below it.
      if (std::isinf(bound)) return lower * 1000;
      const double in_bucket = count - below;
      const double share = in_bucket > 0 ? (rank - below) / in_bucket : 1;
      return (lower + (bound - lower) * share) * 1000;
    }
    lower = bound;
    below = count;
  }
  return lower * 1000;
}

TrafficHistory::TrafficHistory(std::shared_ptr<prometheus::Registry> registry, std::chrono::seconds interval, size_t keep)
    : registry_(std::move(registry)), interval_(interval), keep_(keep) {}

TrafficHistory::~TrafficHistory() { Stop(); }

void TrafficHistory::Start() {
  Sample();  // the baseline the first interval is measured from
  thread_ = NamedThread("traffic", [this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      Sample();
      lock.lock();
    }
  });
}

void TrafficHistory::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

TrafficHistory::Reading TrafficHistory::Read() const {
  Reading r;
  r.at = std::chrono::steady_clock::now();
  for (const auto& family : registry_->Collect()) {
    if (family.name == "aimass_http_requests_total") {
      for (const auto& m : family.metric) {
        r.requests += m.counter.value;
        for (const auto& l : m.label) {
          if (l.name == "status" && !l.value.empty() && l.value[0] == '5') r.errors += m.counter.value;
        }
      }
    } else if (family.name == "aimass_http_request_duration_seconds") {
      for (const auto& m : family.metric) {
        for (const auto& b : m.histogram.bucket) r.buckets[b.upper_bound] += static_cast<double>(b.cumulative_count);
      }
    }
  }
  return r;
}

void TrafficHistory::Sample() {
  Reading now = Read();
  std::lock_guard lock(mu_);
  if (last_) {
    const double dt = std::chrono::duration<double>(now.at - last_->at).count();
    const double requests = now.requests - last_->requests;
    TrafficPoint p;
    p.at_ms = UnixNowMs();
    p.requests_per_s = dt > 0 ? requests / dt : 0;
    p.error_rate = requests > 0 ? (now.errors - last_->errors) / requests : 0;
    p.p50_ms = QuantileMs(last_->buckets, now.buckets, 0.50);
    p.p99_ms = QuantileMs(last_->buckets, now.buckets, 0.99);
    points_.push_back(p);
    while (points_.size() > keep_) points_.pop_front();
  }
  last_ = std::move(now);
}

std::vector<TrafficPoint> TrafficHistory::Points() const {
  std::lock_guard lock(mu_);
  return {points_.begin(), points_.end()};
}

}  // namespace aimass::http
