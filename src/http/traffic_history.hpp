// TrafficHistory: the process's HTTP traffic over the last hour, for the console's home page:
// every `interval` it reads the request counters and latency histograms the metrics
// middleware keeps (aimass_http_requests_total, aimass_http_request_duration_seconds) and
// keeps, per interval, the request rate, the error rate (5xx) and the p50/p99 latency
// estimated from the histogram's buckets. Thread-safe; samples on its own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace prometheus {
class Registry;
}

namespace aimass::http {

struct TrafficPoint {
  int64_t at_ms = 0;      // the end of the interval
  double requests_per_s = 0;
  double error_rate = 0;  // 5xx answers / answers
  double p50_ms = 0;      // 0 when no request ended in the interval
  double p99_ms = 0;
};

// The p-quantile (0..1) of the requests between two readings of a cumulative histogram
// (bucket upper bound in seconds -> cumulative count), in milliseconds, interpolated within
// its bucket as Prometheus's histogram_quantile does. 0 when nothing was counted.
double QuantileMs(const std::map<double, double>& before, const std::map<double, double>& after, double q);

class TrafficHistory {
 public:
  TrafficHistory(std::shared_ptr<prometheus::Registry> registry, std::chrono::seconds interval = std::chrono::seconds(10),
                 size_t keep = 360);
  ~TrafficHistory();

  void Start();
  void Stop();
  std::vector<TrafficPoint> Points() const;
  std::chrono::seconds interval() const { return interval_; }

  // One reading now (Start's thread calls it every interval; tests call it themselves).
  void Sample();

 private:
  struct Reading {
    std::chrono::steady_clock::time_point at;
    double requests = 0;
    double errors = 0;
    std::map<double, double> buckets;
  };
  Reading Read() const;

  std::shared_ptr<prometheus::Registry> registry_;
  const std::chrono::seconds interval_;
  const size_t keep_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::optional<Reading> last_;
  std::deque<TrafficPoint> points_;
  std::thread thread_;
};

}  // namespace aimass::http
