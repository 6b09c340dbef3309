// What experiment tracking records: experiments, their runs, and what a run logs (params,
// tags, metric points, artifacts, the dataset and model versions it read and produced).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace aimass::tracking {

struct Experiment {
  int64_t id = 0;
  std::string name;
  std::string description;
  std::string owner;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  int64_t run_count = 0;
};

// One logged point of a metric.
struct MetricPoint {
  std::string key;
  double value = 0;
  int64_t step = 0;
  int64_t timestamp_ms = 0;
};

// A metric's summary on its run: the value at the highest step (ties: the latest timestamp,
// then the larger value, as MLflow), its range and how many points were logged.
struct LatestMetric {
  double value = 0;
  int64_t step = 0;
  int64_t timestamp_ms = 0;
  double min = 0;
  double max = 0;
  int64_t count = 0;
};

// A dataset version a run read, or a model version it produced (or read: a fine-tune).
struct RunLink {
  std::string direction;  // input | output
  std::string kind;       // dataset | model
  std::string name;
  int64_t version = 0;
  bool operator==(const RunLink&) const = default;
};

struct Run {
  int64_t id = 0;
  int64_t experiment_id = 0;
  std::string experiment;
  std::string name;
  std::string status;  // queued | running | succeeded | failed | cancelled
  std::string owner;
  std::string description;
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // 0 while not finished
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
  std::map<std::string, LatestMetric> metrics;
  std::vector<RunLink> links;
  int64_t artifact_count = 0;
};

struct Artifact {
  std::string path;
  std::string digest;  // sha256:<hex>
  uint64_t size = 0;
  int64_t created_ms = 0;
};

// One call of POST /runs/{id}/log.
struct LogBatch {
  std::vector<MetricPoint> metrics;
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<RunLink> links;
};

// Whether a status ends a run (it then has an end time).
bool TerminalStatus(const std::string& status);
// The status vocabulary is the jobs' one; MLflow's names are accepted too (FINISHED is
// succeeded, KILLED cancelled, SCHEDULED queued). Empty when `s` is neither.
std::string NormalizeStatus(const std::string& s);

}  // namespace aimass::tracking
