// Serving: the deployments of the platform and the requests sent to them. It loads registry
// versions into VersionRunners, routes each request to the stable version or the canary
// (and mirrors shadow traffic), follows registry aliases with a zero-downtime swap, runs the
// auto-promote / rollback controller, and keeps deployments in the metadata store so they come
// back after a restart. No HTTP in here. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/principal.hpp"
#include "common/usage.hpp"
#include "events/bus.hpp"
#include "registry/registry.hpp"
#include "serving/artifact_fetcher.hpp"
#include "serving/deployment.hpp"
#include "serving/tensor.hpp"
#include "storage/db.hpp"

namespace prometheus {
class Registry;
}

namespace aimass::serving {

// The answer to one inference, with the version that computed it.
struct InferResult {
  int64_t version = 0;
  std::vector<Tensor> outputs;
};

// An inference under way (Serving::InferAsync): when its answer is due, and how to give up on
// it then.
struct PendingInfer {
  std::chrono::steady_clock::time_point deadline;
  std::function<void()> cancel;
};

struct ModelMetadata {
  std::string name;
  std::vector<int64_t> versions;  // loaded: stable first
  std::string platform;           // pytorch_torchscript | onnx_opencv | xgboost
  registry::Signature signature;
};

class Serving {
 public:
  Serving(storage::Db& db, registry::Registry& registry, events::EventBus* bus,
          std::shared_ptr<prometheus::Registry> metrics);
  ~Serving();
  static std::vector<storage::Migration> Migrations();

  // Where an artifact this process's blob store lacks comes from (the registry in another
  // process, see ArtifactFetcher); none: a missing artifact fails the load. Set before Start.
  void FetchMissingWith(std::function<Status(const MissingArtifact&)> fetch);
  // Loads the stored deployments in the background (state `loading` until each is up).
  void Start();
  // Unloads everything (drains queued requests first).
  void Stop();
  // Where each inference's usage goes (deployment, version, status, latency; the analysis
  // module's collector); null: nowhere.
  void SetUsageSink(UsageSink* sink);

  // Loads the version (and the candidate), warms it, then records the deployment. The caller
  // needs read access to the model (checked here through the registry).
  Result<DeploymentView> Create(const Principal& who, DeploymentSpec spec);
  Result<DeploymentView> Get(const std::string& name);
  std::vector<DeploymentView> List();
  // Applies a PATCH body. A new version or alias is loaded before it takes traffic.
  Result<DeploymentView> Update(const Principal& who, const std::string& name,
                                const nlohmann::json& patch);
  Status Delete(const std::string& name);
  // The model-repository extension: unload keeps the deployment but frees its versions
  // (requests get 503 until it is loaded again); load brings it back.
  Status Unload(const std::string& name);
  Status Load(const std::string& name);

  // One inference. `version` picks a loaded version explicitly (else traffic policy decides).
  // Errors: not_found (deployment or version), bad_request (inputs), unavailable (queue full,
  // not loaded), deadline_exceeded, internal (the model failed).
  Result<InferResult> Infer(const std::string& name, std::optional<int64_t> version, std::vector<Tensor> inputs);
  // The same without a waiting thread: `done` gets the answer, once, from an executor (or
  // before this returns, for refused inputs). An error here (no such deployment or version,
  // not loaded) means `done` is never called.
  Result<PendingInfer> InferAsync(const std::string& name, std::optional<int64_t> version, std::vector<Tensor> inputs,
                                  std::function<void(Result<InferResult>)> done);
  Result<ModelMetadata> Metadata(const std::string& name, std::optional<int64_t> version);

  // A language model's runner for one request: the stable version or the canary, as the
  // traffic policy says. not_found for no such deployment; bad_request when it serves
  // another kind of model.
  struct LanguageModelTarget {
    std::shared_ptr<VersionRunner> runner;
    int64_t version = 0;
    std::chrono::steady_clock::time_point deadline;  // a whole answer's (the deployment's timeout_ms)
  };
  Result<LanguageModelTarget> PickLanguageModel(const std::string& name);
  // Deployments whose stable version is a language model: name and creation time.
  std::vector<std::pair<std::string, int64_t>> LanguageModels();
  // One generation's usage to the usage sink (as every inference's).
  void RecordGeneration(const std::string& name, int64_t version, const Status& st,
                        std::chrono::steady_clock::time_point start, uint64_t bytes_in, uint64_t bytes_out);
  // Ready: loaded and serving (a specific version when given).
  Status Ready(const std::string& name, std::optional<int64_t> version);
  bool AllReady();
  // Whether a deployment is still loading (after a start, or following another process).
  bool AnyLoading();

  struct VersionStats {
    std::string name;
    int64_t version = 0;
    StatsSnapshot stats;
    std::string role;    // stable or candidate
    WindowStats recent;  // the last Stats `window`, when one was asked for
    std::optional<LlmSnapshot> llm;  // a language model's tokens, sequences and timings
  };
  Result<std::vector<VersionStats>> Stats(const std::optional<std::string>& name, std::optional<int64_t> version,
                                          std::chrono::seconds window = std::chrono::seconds(0));

  // Whether `who` may send requests to deployment `name`: inference:invoke, or
  // inference.<name>:invoke for that deployment only.
  static bool MayInvoke(const Principal& who, const std::string& name);

  struct Impl;

 private:
  struct Target;
  Result<Target> Pick(const std::string& name, std::optional<int64_t> version);
  std::unique_ptr<Impl> impl_;
  std::atomic<UsageSink*> usage_{nullptr};
};

}  // namespace aimass::serving
