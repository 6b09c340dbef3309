#include "http/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <chrono>
#include <shared_mutex>
#include <unordered_map>

#include "http/deferred_response.hpp"

namespace aimass::http {

namespace {
std::atomic<uint64_t> next_generation{1};
}  // namespace

struct MetricsMiddleware::Impl {
  // Names this middleware in the per-thread cache below (an address could be reused by a
  // later middleware, whose series are not these).
  const uint64_t generation = next_generation++;
  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>* requests;
  prometheus::Family<prometheus::Histogram>* duration;
  prometheus::Family<prometheus::Gauge>* in_flight_family;
  prometheus::Gauge* in_flight;

  // prometheus-cpp's Family::Add locks and hashes a label map; cache the series by
  // (route, method, status), packed into an integer so the hot path allocates nothing.
  std::shared_mutex mu;
  std::unordered_map<uint64_t, prometheus::Counter*> counters;
  std::unordered_map<uint64_t, prometheus::Histogram*> histograms;
  std::unordered_map<const Route*, uint64_t> route_ids;  // 0 = unmatched

  uint64_t RouteId(const Route* r) {
    if (r == nullptr) return 0;
    {
      std::shared_lock lock(mu);
      if (auto it = route_ids.find(r); it != route_ids.end()) return it->second;
    }
    std::unique_lock lock(mu);
    auto [it, inserted] = route_ids.emplace(r, route_ids.size() + 1);
    return it->second;
  }

  template <typename Map, typename Make>
  auto* Lookup(Map& map, uint64_t key, Make make) {
    {
      std::shared_lock lock(mu);
      if (auto it = map.find(key); it != map.end()) return it->second;
    }
    std::unique_lock lock(mu);
    auto& slot = map[key];
    if (!slot) slot = make();
    return slot;
  }
};

MetricsMiddleware::MetricsMiddleware(std::shared_ptr<prometheus::Registry> registry)
    : impl_(std::make_unique<Impl>()) {
  impl_->registry = std::move(registry);
  impl_->requests = &prometheus::BuildCounter()
                         .Name("aimass_http_requests_total")
                         .Help("HTTP requests by method, route pattern and status")
                         .Register(*impl_->registry);
  impl_->duration = &prometheus::BuildHistogram()
                         .Name("aimass_http_request_duration_seconds")
                         .Help("HTTP request latency by method and route pattern")
                         .Register(*impl_->registry);
  impl_->in_flight_family = &prometheus::BuildGauge()
                                 .Name("aimass_http_requests_in_flight")
                                 .Help("HTTP requests being handled")
                                 .Register(*impl_->registry);
  impl_->in_flight = &impl_->in_flight_family->Add({});
}

MetricsMiddleware::~MetricsMiddleware() = default;

Response MetricsMiddleware::Handle(Request& req, const Next& next) {
  if (req.received == std::chrono::steady_clock::time_point()) req.received = std::chrono::steady_clock::now();
  impl_->in_flight->Increment();
  Response r = next(req);
  // Two pointers: kept inside the std::function (a wider capture cost an allocation per request).
  Finally(r, [this, &req](Response& done) { Record(req, done); });
  return r;
}

void MetricsMiddleware::Record(const Request& req, const Response& r) {
  impl_->in_flight->Decrement();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - req.received).count();

  // The series of a (route, method, status) found last on this thread, per slot: most requests
  // find theirs here without the shared lock and the two map lookups below.
  struct Cached {
    uint64_t generation = 0;
    const Route* route = nullptr;
    Method method = Method::kGet;
    int status = 0;
    prometheus::Counter* counter = nullptr;
    prometheus::Histogram* histogram = nullptr;
  };
  thread_local std::array<Cached, 16> cache;
  Cached& slot = cache[(reinterpret_cast<uintptr_t>(req.route) / 64 + static_cast<size_t>(req.method) * 7 +
                        static_cast<size_t>(r.status)) % cache.size()];
  if (slot.generation != impl_->generation || slot.route != req.route || slot.method != req.method ||
      slot.status != r.status) {
    auto method = [&] { return std::string(MethodName(req.method)); };
    auto route = [&] { return req.route ? req.route->pattern : std::string("unmatched"); };
    uint64_t hkey = (impl_->RouteId(req.route) << 8) | static_cast<uint64_t>(req.method);
    uint64_t ckey = (hkey << 10) | static_cast<uint64_t>(r.status & 0x3ff);
    slot.counter = impl_->Lookup(impl_->counters, ckey, [&] {
      return &impl_->requests->Add(
          {{"method", method()}, {"route", route()}, {"status", std::to_string(r.status)}});
    });
    slot.histogram = impl_->Lookup(impl_->histograms, hkey, [&] {
      static const prometheus::Histogram::BucketBoundaries kBuckets = {
          0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
      return &impl_->duration->Add({{"method", method()}, {"route", route()}}, kBuckets);
    });
    slot.generation = impl_->generation;
    slot.route = req.route;
    slot.method = req.method;
    slot.status = r.status;
  }
  slot.counter->Increment();
  slot.histogram->Observe(secs);
}

std::string RenderMetrics(prometheus::Registry& registry) {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

}  // namespace aimass::http
