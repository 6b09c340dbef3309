// What a built-in pipeline step has when it runs (`aimass step <uses>` inside a job): its
// inputs, the run it belongs to, a client of the platform's API acting as the run's owner,
// and the way it gives outputs (lines of its log the orchestrator reads, decision 105).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "http/client.hpp"
#include "steps/system_sampler.hpp"

namespace aimass::steps {

class StepContext {
 public:
  // From the job's environment: AIMASS_SERVER, AIMASS_TOKEN, AIMASS_INPUTS, AIMASS_ITEM,
  // AIMASS_PIPELINE, AIMASS_PIPELINE_RUN, AIMASS_STEP.
  static Result<StepContext> FromEnvironment();

  const nlohmann::json& inputs() const { return inputs_; }
  const std::string& pipeline() const { return pipeline_; }
  const std::string& run() const { return run_; }
  const std::string& step() const { return step_; }

  // A JSON call; an error answer is a Status with the server's code and message.
  Result<nlohmann::json> Call(http::Method m, const std::string& path, const nlohmann::json* body = nullptr);
  // Raw bytes both ways; any HTTP status is returned as it is.
  Result<http::ClientResponse> Send(http::Method m, const std::string& path, std::string body,
                                    std::vector<std::pair<std::string, std::string>> headers);

  // Prints `::aimass-output name=<value as JSON>`.
  void Output(const std::string& name, const nlohmann::json& value);

  // A dataset version as CSV, with its JSON (number, schema, row_count).
  struct Table {
    nlohmann::json version;
    std::string csv;
  };
  Result<Table> DownloadTable(const std::string& dataset, const std::string& version);

  // A tracking run for this step in `experiment` (created when missing), tagged with the
  // pipeline, its run and the step; returns its id. From then on the run also gets the system
  // metrics (system_sampler.hpp) every `with.system_metrics_interval_s` (10; 0: none), until
  // FinishTrackingRun.
  Result<int64_t> StartTrackingRun(const std::string& experiment, const nlohmann::json& params);
  // One logging call (POST /api/v1/runs/{id}/log).
  Status LogToRun(int64_t run, const nlohmann::json& batch);
  // PUT /api/v1/runs/{run}/artifacts/{path}; anything but 201 is an error naming the path.
  Status PutArtifact(int64_t run, const std::string& path, std::string bytes, const std::string& content_type);
  // The system metrics' last sample, then the run's status (succeeded).
  Status FinishTrackingRun(int64_t run);

  // The model version `with.model` and `with.version` name, or, when `with.model` is
  // {"best_for": task, "metric": key, "goal": "max"|"min"}, the best registered version for
  // that task (model selection: GET /api/v1/models?task=&order_by=). Version 0: not given.
  Result<std::pair<std::string, int64_t>> InputModel();

  // The name of a deployment a step makes for itself and removes (evaluate, convert):
  // "<prefix>-<pipeline run>-<version>", as a deployment name may be spelled.
  std::string ScratchDeployment(const std::string& prefix, int64_t version) const;

 private:
  nlohmann::json inputs_ = nlohmann::json::object();
  std::string server_, token_, pipeline_, run_, step_;
  std::unique_ptr<http::Client> client_ = std::make_unique<http::Client>();
  std::unique_ptr<SystemSampler> sampler_;  // after client_: stopped before it goes
};

// Input helpers: a required or optional member of the step's `with`, with its type checked.
Result<std::string> InputString(const nlohmann::json& in, const char* key);
std::string InputString(const nlohmann::json& in, const char* key, const std::string& fallback);
Result<double> InputNumber(const nlohmann::json& in, const char* key, double fallback);
// A whole number within [lo, hi].
Result<int64_t> InputCount(const nlohmann::json& in, const char* key, int64_t fallback, int64_t lo, int64_t hi);
// A list of names (absent: empty).
Result<std::vector<std::string>> InputStrings(const nlohmann::json& in, const char* key);

// The CPUs the job was given (the cluster sets OMP_NUM_THREADS to its `resources.cpus`), else
// the machine's: the default thread count of the training steps.
int JobThreads();

// A dataset named by `with.<key>`: {"dataset","version"}, "name" (latest) or "name@version".
Result<std::pair<std::string, std::string>> InputDataset(const nlohmann::json& in, const char* key);

}  // namespace aimass::steps
