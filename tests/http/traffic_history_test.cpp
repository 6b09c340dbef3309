// TrafficHistory: rates and percentiles between two readings of the HTTP metrics.
#include "http/traffic_history.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cmath>
#include <limits>

namespace aimass::http {
namespace {

TEST(TrafficHistoryTest, QuantilesInterpolateWithinTheBucketOfTheInterval) {
  const double inf = std::numeric_limits<double>::infinity();
  // Before: 10 requests under 1 ms. After: 100 more, 90 of them in (1, 2] ms, 10 in (2, 4].
  std::map<double, double> before = {{0.001, 10}, {0.002, 10}, {0.004, 10}, {inf, 10}};
  std::map<double, double> after = {{0.001, 10}, {0.002, 100}, {0.004, 110}, {inf, 110}};
  // p50 of the 100: rank 50, the 50th of 90 in (1, 2] ms.
  EXPECT_NEAR(QuantileMs(before, after, 0.5), 1 + 50.0 / 90, 1e-9);
  // p99: rank 99, the 9th of 10 in (2, 4] ms.
  EXPECT_NEAR(QuantileMs(before, after, 0.99), 2 + 2 * 9.0 / 10, 1e-9);
  EXPECT_EQ(QuantileMs(after, after, 0.5), 0) << "no request in the interval";
  // Beyond the last finite bound: the bound itself, nothing made up past it.
  std::map<double, double> slow = {{0.001, 10}, {0.002, 10}, {0.004, 10}, {inf, 20}};
  EXPECT_EQ(QuantileMs(before, slow, 0.99), 4);
}

TEST(TrafficHistoryTest, EachSampleIsTheIntervalsRateErrorsAndLatency) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& requests = prometheus::BuildCounter().Name("aimass_http_requests_total").Register(*registry);
  auto& duration = prometheus::BuildHistogram().Name("aimass_http_request_duration_seconds").Register(*registry);
  auto& ok = requests.Add({{"status", "200"}});
  auto& failed = requests.Add({{"status", "503"}});
  auto& lat = duration.Add({{"route", "/x"}}, prometheus::Histogram::BucketBoundaries{0.001, 0.01, 0.1});
  TrafficHistory h(registry, std::chrono::seconds(10), 2);
  h.Sample();  // the baseline: no point yet
  EXPECT_TRUE(h.Points().empty());
  ok.Increment(30);
  failed.Increment(10);
  for (int i = 0; i < 40; ++i) lat.Observe(0.005);
  h.Sample();
  auto points = h.Points();
  ASSERT_EQ(points.size(), 1u);
  EXPECT_GT(points[0].requests_per_s, 0);
  EXPECT_DOUBLE_EQ(points[0].error_rate, 0.25);
  EXPECT_GT(points[0].p50_ms, 1);
  EXPECT_LE(points[0].p99_ms, 10);
  h.Sample();
  h.Sample();
  EXPECT_EQ(h.Points().size(), 2u) << "only the last `keep` points";
  EXPECT_EQ(h.Points().back().requests_per_s, 0);
}

}  // namespace
}  // namespace aimass::http
