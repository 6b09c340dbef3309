// PipelineStore: the pipeline module's tables. pipelines (name → spec), pipeline_runs (each
// run with the spec and params it ran with, its state), pipeline_steps (a row per step of a
// run, or per item of a foreach step: state, attempts, the job of the current attempt, whether
// it came from the cache and from which run, its outputs) and pipeline_cache (a step's cache
// key → the run that computed it and its outputs).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::pipeline {

struct Pipeline {
  int64_t id = 0;
  std::string name;
  std::string spec;  // PipelineSpecJson, as text
  std::string owner;
  int64_t revision = 1;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct PipelineRun {
  int64_t id = 0;
  int64_t pipeline_id = 0;
  std::string pipeline;
  std::string spec;    // the spec it runs (a later change of the pipeline does not touch it)
  std::string params;  // JSON: the defaults with the run's own on top
  std::string state;   // queued | running | succeeded | failed | cancelled
  std::string owner;
  std::string trigger;  // api | schedule | resume
  std::optional<int64_t> resumed_from;
  std::string reason;
  bool cancel_requested = false;
  int64_t created_ms = 0, started_ms = 0, finished_ms = 0;
};

struct StepRun {
  int64_t run_id = 0;
  std::string name;   // the step's name, or name[i] for a foreach item
  std::string step;   // the spec step it is an instance of
  int64_t item_index = -1;
  std::string item = "null";  // JSON
  // pending (waiting for its needs, or for a retry's back-off) | queued | running |
  // succeeded | failed | cancelled | skipped
  std::string state = "pending";
  int64_t attempts = 0;
  std::optional<int64_t> job_id;
  std::string jobs = "[]";  // JSON: every attempt's job id
  bool cached = false;
  std::optional<int64_t> cached_from_run;
  std::string cache_key;
  std::string inputs = "null";  // JSON: what it ran with, rendered
  std::string outputs = "{}";   // JSON
  std::string reason;
  int64_t next_attempt_ms = 0;
  int64_t started_ms = 0, finished_ms = 0;
};

struct CacheEntry {
  int64_t run_id = 0;
  std::string step;
  std::string outputs;
};

class PipelineStore {
 public:
  explicit PipelineStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Result<Pipeline> Create(const Pipeline& p);
  // Replaces the spec (revision + 1).
  Result<Pipeline> Update(const std::string& name, const std::string& spec, int64_t now_ms);
  Result<Pipeline> Get(const std::string& name);
  Result<std::vector<Pipeline>> List(int64_t limit, int64_t offset);
  // Deletes the pipeline, its runs, their steps and its cache entries.
  Status Delete(int64_t id);

  Result<int64_t> CreateRun(const PipelineRun& r, const std::vector<StepRun>& steps);
  Result<PipelineRun> GetRun(int64_t id);
  Result<std::vector<PipelineRun>> Runs(const std::string& pipeline, int64_t limit, int64_t offset);
  // Runs not yet finished (queued or running), oldest first.
  Result<std::vector<PipelineRun>> ActiveRuns();
  Status UpdateRun(const PipelineRun& r);
  Status RequestCancel(int64_t id);

  Result<std::vector<StepRun>> Steps(int64_t run_id);
  Status PutStep(const StepRun& s);  // insert or replace by (run_id, name)
  Status PutSteps(const std::vector<StepRun>& steps);  // the same, all in one transaction

  Result<std::optional<CacheEntry>> CacheLookup(const std::string& key);
  Status CachePut(const std::string& key, const CacheEntry& e, int64_t now_ms);

 private:
  storage::Db& db_;
};

}  // namespace aimass::pipeline
