// TrackingStore: experiment tracking's tables. tracking_experiments and tracking_runs;
// per run tracking_params, tracking_tags, tracking_latest_metrics (each metric's summary: what
// search filters and sorts on), tracking_metric_chunks (every point, a row per key per logging
// call: metric_chunk.hpp), tracking_run_links (dataset and model versions), tracking_artifacts
// (path → blob: the references blob GC asks about) and tracking_artifact_pending (a blob
// referenced before its bytes are adopted, decision 16).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"
#include "tracking/metric_chunk.hpp"
#include "tracking/run.hpp"
#include "tracking/run_search.hpp"

namespace aimass::tracking {

struct PendingArtifact {
  int64_t run_id = 0;
  std::string path;
  std::string digest;
  uint64_t size = 0;
};

class TrackingStore {
 public:
  // selective_runs: a filter term selecting fewer runs than this drives a search;
  // search_window: how many runs a search walks in its order before it turns to its
  // narrowest term (SearchRuns).
  explicit TrackingStore(storage::Db& db, int64_t selective_runs = 5000, int64_t search_window = 5000)
      : db_(db), selective_runs_(selective_runs), search_window_(search_window) {}
  static std::vector<storage::Migration> Migrations();

  Result<Experiment> CreateExperiment(const Experiment& e);
  // With its run count (which costs a count of its runs).
  Result<Experiment> GetExperiment(const std::string& name);
  // Only the id: what every run creation and search looks up.
  Result<int64_t> ExperimentId(const std::string& name);
  Result<std::vector<Experiment>> ListExperiments(int64_t limit, int64_t offset);
  Status UpdateExperiment(int64_t id, const std::string& description, int64_t now_ms);
  // Deletes the experiment and every run in it, with all they logged.
  Status DeleteExperiment(int64_t id);

  // Inserts the run with its first params and tags; returns its id.
  Result<int64_t> CreateRun(const Run& r);
  // The run with params, tags, metric summaries, links and artifact count.
  Result<Run> GetRun(int64_t id);
  // Runs of the experiments (all when empty) matching the filter, in the order, each with
  // params, tags and metric summaries (not links). Which term drives the query is planned
  // here (store.cpp: SearchRuns), so a search stays fast at hundreds of thousands of runs.
  struct RunQuery {
    std::vector<int64_t> experiment_ids;
    storage::CompiledFilter drive;  // the filter in TermForm::kDrive
    storage::CompiledFilter probe;  // the same filter in TermForm::kProbe
    RunOrder order;
  };
  Result<std::vector<Run>> SearchRuns(const RunQuery& q, int64_t limit, int64_t offset);
  // Runs by id, in the order given (missing ones left out), as SearchRuns fills them.
  Result<std::vector<Run>> RunsById(const std::vector<int64_t>& ids);
  Status UpdateRun(int64_t id, const std::optional<std::string>& name, const std::optional<std::string>& status,
                   const std::optional<std::string>& description, int64_t now_ms);
  Status DeleteRun(int64_t id);

  // One logging call, in one transaction: params (a key already logged with another value is
  // a conflict, and nothing is written), tags, metric points (a chunk per key) and links.
  Status Log(int64_t run_id, const LogBatch& batch);
  Status DeleteTag(int64_t run_id, const std::string& key);
  // The points of one metric in the order logged, from `offset`, at most `limit`.
  Result<std::vector<ChunkPoint>> MetricHistory(int64_t run_id, const std::string& key, int64_t offset, int64_t limit);

  Status AddPendingArtifact(const PendingArtifact& a);
  // The artifact at its path becomes this blob (replacing any before it); the pending row goes.
  Status CompleteArtifact(const PendingArtifact& a, int64_t now_ms);
  Status DropPendingArtifact(const PendingArtifact& a);
  Result<std::vector<PendingArtifact>> PendingArtifacts();
  Result<std::vector<Artifact>> Artifacts(int64_t run_id);
  Result<Artifact> GetArtifact(int64_t run_id, const std::string& path);
  Status DeleteArtifact(int64_t run_id, const std::string& path);
  Result<bool> BlobReferenced(const std::string& digest);

 private:
  Status FillDetails(std::vector<Run>& runs, bool links);
  storage::Db& db_;
  int64_t selective_runs_;
  int64_t search_window_;
};

}  // namespace aimass::tracking
