// How the applications built on the platform use it: every call through the gateway (route,
// application, consumer, status, latency, bytes) and every inference (deployment, version),
// counted on the request path into per-second tallies, then every `flush_s` appended to the
// dataset `platform-usage` (which the cube of the same name follows) and folded into 10-second
// series kept in memory for dashboards, top lists, quota use and alert rules (error rate,
// latency, calls; a threshold or an anomaly against the previous hour), whose alerts go to the
// event bus (and so the message queue) and to a webhook. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/principal.hpp"
#include "common/usage.hpp"
#include "datasets/datasets.hpp"
#include "events/bus.hpp"
#include "storage/db.hpp"

namespace aimass::cube {
class CubeService;
}
namespace aimass::gateway {
class Gateway;
}

namespace aimass::analysis {

struct UsageOptions {
  datasets::Datasets* datasets = nullptr;
  cube::CubeService* cubes = nullptr;
  gateway::Gateway* gateway = nullptr;  // its routes' rate limits, for quota use
  events::EventBus* bus = nullptr;
  std::string dataset = "platform-usage";
  int64_t flush_ms = 10'000;
  int64_t retention_ms = 24 * 3600 * 1000;
  bool run = true;  // flush and alert here (a process that serves the module)
};

// Calls, errors and latencies of a span of time, mergeable.
struct UsageTally {
  static constexpr int kBuckets = 48;  // latency: 0.1 ms × 10^(i/8), up to about 100 s
  uint64_t calls = 0, errors = 0, client_errors = 0, slow = 0;  // errors: 5xx; client: 4xx; slow: ≥ 1 s
  double latency_sum = 0, latency_max = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  std::array<uint32_t, kBuckets> hist{};
  void Add(const UsageRecord& r);
  void Merge(const UsageTally& o);
  double Percentile(double q) const;  // ms
};

class UsageService final : public UsageSink {
 public:
  UsageService(storage::Db& db, UsageOptions o);
  ~UsageService() override;
  static std::vector<storage::Migration> Migrations();

  void Record(const UsageRecord& r) override;
  void Start();
  void Stop();
  // Everything recorded so far, folded and written (tests, shutdown).
  Status Flush();

  // ?by=application|consumer|route|deployment|all&value=&from=&to=&step= → series of points.
  Result<nlohmann::json> Series(const std::string& by, const std::string& value, int64_t from_ms, int64_t to_ms, int64_t step_ms);
  // The top values of a dimension by a metric (calls, errors, error_rate, latency_p95_ms, bytes_out).
  Result<nlohmann::json> Top(const std::string& by, const std::string& metric, int64_t from_ms, int64_t to_ms, size_t limit);
  // Per route with a consumer rate limit: each consumer's calls in the limit's last period against it.
  Result<nlohmann::json> Quota();

  Result<nlohmann::json> PutRule(const nlohmann::json& body);
  Result<nlohmann::json> Rules();
  Result<nlohmann::json> Rule(const std::string& name);
  Status DeleteRule(const std::string& name);
  Result<nlohmann::json> AlertEvents(const std::string& rule, int64_t limit);

 private:
  struct Shard;
  struct AlertRule;
  void Loop();
  Status FlushLocked();
  Status Append(const std::map<std::string, UsageTally>& rows);
  Status EnsureCube();
  void Evaluate(int64_t now_ms);
  void Fire(const AlertRule& rule, const std::string& value, bool firing, double observed, double threshold, int64_t now_ms);

  storage::Db& db_;
  UsageOptions o_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::mutex flush_mu_;  // one flush at a time
  std::mutex series_mu_;
  // (dimension, value) → 10-second slot (ms) → tally.
  std::map<std::pair<std::string, std::string>, std::map<int64_t, UsageTally>> series_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool cube_ready_ = false;
  // Which (rule, value) pairs are firing, as this process last saw them (guarded by flush_mu_).
  std::map<std::pair<std::string, std::string>, bool> firing_;
  std::thread thread_;
};

}  // namespace aimass::analysis
