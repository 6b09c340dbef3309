// Tracking: experiment tracking's service. Experiments hold runs; a run logs params (set
// once), tags, metric points (with step and time), artifacts (files in the blob store) and the
// dataset and model versions it read and produced; runs are searched with a filter and
// compared side by side. No HTTP here (api.cpp); thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "events/bus.hpp"
#include "storage/blob_store.hpp"
#include "storage/db.hpp"
#include "tracking/run.hpp"
#include "tracking/store.hpp"

namespace aimass::tracking {

struct TrackingOptions {
  events::EventBus* bus = nullptr;
  int64_t max_metrics_per_call = 10000;  // points in one logging call
  int64_t selective_runs = 5000;         // see TrackingStore
  int64_t search_window = 5000;
};

struct NewRun {
  std::string experiment;
  std::string name;  // empty: run-<id>
  std::string description;
  std::string status = "running";
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
};

// Runs side by side: one value per run for each param and metric key any of them has.
struct Comparison {
  struct ParamRow {
    std::string key;
    std::vector<std::optional<std::string>> values;
    bool differs = false;
  };
  struct MetricRow {
    std::string key;
    std::string goal;  // max | min: which end is best
    std::vector<std::optional<LatestMetric>> values;
    std::optional<size_t> best_run;  // index of the run with the best value
  };
  std::vector<Run> runs;
  std::vector<ParamRow> params;
  std::vector<MetricRow> metrics;
};

class Tracking {
 public:
  Tracking(storage::Db& db, storage::BlobStore& blobs, TrackingOptions options);
  static std::vector<storage::Migration> Migrations() { return TrackingStore::Migrations(); }
  // Completes or drops artifacts a crash left between their reference and their bytes.
  Status Open();

  Result<Experiment> CreateExperiment(const std::string& name, const std::string& description, const std::string& owner);
  Result<Experiment> GetExperiment(const std::string& name);
  Result<std::vector<Experiment>> ListExperiments(int64_t limit, int64_t offset);
  Result<Experiment> UpdateExperiment(const std::string& name, const std::string& description);
  Status DeleteExperiment(const std::string& name);

  Result<Run> CreateRun(const NewRun& r, const std::string& owner);
  Result<Run> GetRun(int64_t id);
  // Runs of the named experiments (all when empty), filtered and ordered (run_search.hpp).
  Result<std::vector<Run>> SearchRuns(const std::vector<std::string>& experiments, const std::string& filter,
                                      const std::string& order_by, int64_t limit, int64_t offset);
  Result<Run> UpdateRun(int64_t id, const std::optional<std::string>& name, const std::optional<std::string>& status,
                        const std::optional<std::string>& description);
  // Real deletion: every row of the run; its artifacts' blobs go at the next blob GC.
  Status DeleteRun(int64_t id);

  // Checks every key, value and link, then stores the batch in one transaction.
  Status Log(int64_t id, LogBatch batch);
  Status DeleteTag(int64_t id, const std::string& key);
  Result<std::vector<ChunkPoint>> MetricHistory(int64_t id, const std::string& key, int64_t offset, int64_t limit);
  // goals: "max" or "min" per metric key; other keys: DefaultMetricGoal (common/metric_goal.hpp).
  Result<Comparison> Compare(const std::vector<int64_t>& ids, const std::map<std::string, std::string>& goals);

  // Stores a spooled upload (under the blob store's temp dir, hashed on arrival) as the
  // artifact at `path`, replacing the one there.
  Result<Artifact> PutArtifact(int64_t id, const std::string& path, const std::string& spooled_path, uint64_t size,
                               const std::string& sha256_hex);
  Result<std::vector<Artifact>> Artifacts(int64_t id);
  // The artifact and a local path to read its bytes from.
  Result<std::pair<Artifact, std::string>> OpenArtifact(int64_t id, const std::string& path);
  Status DeleteArtifact(int64_t id, const std::string& path);

  Result<bool> BlobReferenced(const std::string& digest) { return store_.BlobReferenced(digest); }

 private:
  void Publish(const std::string& topic, const Run& r);

  TrackingStore store_;
  storage::BlobStore& blobs_;
  TrackingOptions options_;
};

}  // namespace aimass::tracking
