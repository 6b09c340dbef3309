// Labelling projects: the items of a dataset version (a table's rows or a files dataset's
// files) handed to annotators through a queue (each item to `overlap` of them; in order, at
// random, or most uncertain first for active learning), their labels checked against the
// project's schema, reviews that accept or reject, agreement between annotators (Cohen's and
// Fleiss' kappa), pre-labels from a deployed model, labelling functions combined by a label
// model, a retrain pipeline started every N labels, and export of the accepted labels as a new
// dataset version with its lineage. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/active_learner.hpp"
#include "analysis/label_schema.hpp"
#include "analysis/labelling_store.hpp"
#include "common/principal.hpp"
#include "datasets/datasets.hpp"
#include "events/bus.hpp"

namespace aimass::serving {
class Serving;
}
namespace aimass::pipeline {
class Pipelines;
}
namespace aimass::auth {
class AuthService;
}

namespace aimass::analysis {

struct LabellingOptions {
  datasets::Datasets* datasets = nullptr;
  serving::Serving* serving = nullptr;      // pre-labels
  pipeline::Pipelines* pipelines = nullptr;  // the retrain pipeline
  auth::AuthService* auth = nullptr;         // the project owner, who starts the retrain runs
  events::EventBus* bus = nullptr;
  int64_t lease_ms = 10 * 60 * 1000;  // how long a handed-out task stays reserved for its annotator
  uint64_t max_items = 1'000'000;
};

class LabellingService {
 public:
  LabellingService(storage::Db& db, LabellingOptions o);
  ~LabellingService();
  static std::vector<storage::Migration> Migrations() { return LabellingStore::Migrations(); }

  Result<nlohmann::json> CreateProject(const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> GetProject(const std::string& name);
  Result<nlohmann::json> ListProjects();
  Result<nlohmann::json> UpdateProject(const std::string& name, const nlohmann::json& patch);
  Status DeleteProject(const std::string& name);

  // The caller's next task (a live reservation of theirs first), or nullopt when none is left
  // for them.
  Result<std::optional<nlohmann::json>> NextTask(const std::string& project, const Principal& who);
  Result<nlohmann::json> Task(const std::string& project, int64_t item, const Principal& who);
  // {"value","lead_ms"?}: the caller's label (replacing theirs).
  Result<nlohmann::json> Label(const std::string& project, int64_t item, const nlohmann::json& body, const Principal& who);
  Status Unlabel(const std::string& project, int64_t item, const Principal& who);
  // {"status":"accepted"|"rejected","value"?}: a reviewer's decision; a rejected item's labels
  // are dropped and it goes back to the queue.
  Result<nlohmann::json> Review(const std::string& project, int64_t item, const nlohmann::json& body, const Principal& who);
  // Accepts every unreviewed item whose labels (at least `overlap` of them) all agree.
  Result<nlohmann::json> AcceptAgreed(const std::string& project, const Principal& who);
  // ?state=unlabelled|labelled|accepted|rejected|all, offset, limit: items with their labels.
  Result<nlohmann::json> Items(const std::string& project, const std::string& state, int64_t offset, int64_t limit);
  Result<nlohmann::json> Agreement(const std::string& project);
  // {"dataset"?,"include":"accepted"|"agreed"} → {"dataset","version","rows"}.
  Result<nlohmann::json> Export(const std::string& project, const nlohmann::json& body, const Principal& who);
  // Pre-labels every item from the project's deployment → {"items","model_version"}.
  Result<nlohmann::json> Prelabel(const std::string& project);
  Result<nlohmann::json> PutFunction(const std::string& project, const nlohmann::json& body);
  Result<nlohmann::json> Functions(const std::string& project);
  Status DeleteFunction(const std::string& project, const std::string& name);
  // Runs every labelling function over the items and fits the label model → per function its
  // coverage, conflicts and estimated accuracy (and, where labels exist, its measured accuracy),
  // and the votes stored as predictions (source "functions").
  Result<nlohmann::json> ApplyFunctions(const std::string& project);

 private:
  struct Pool;  // a project's items in memory: texts, rows, the active learner
  struct Project {
    ProjectRow row;
    LabelSchema schema;
    nlohmann::json config;
  };
  Result<Project> Load(const std::string& name);
  Result<std::shared_ptr<Pool>> PoolOf(const Project& p);
  Result<nlohmann::json> ItemData(const Project& p, int64_t item);
  Result<nlohmann::json> TaskJson(const Project& p, int64_t item, const std::string& user);
  Result<std::optional<Prediction>> PrelabelItem(const Project& p, int64_t item);
  Result<std::vector<Prediction>> Predict(const Project& p, const std::vector<int64_t>& items);
  // Each item's label for training and export: accepted by review, else (agreed) all its labels equal.
  Result<std::map<int64_t, std::string>> Settled(const Project& p, bool agreed);
  Status MaybeRetrainLearner(const Project& p);
  Result<nlohmann::json> StartRetrain(const Project& p);
  nlohmann::json ProjectJson(const Project& p) const;

  LabellingStore store_;
  LabellingOptions o_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Pool>> pools_;
};

}  // namespace aimass::analysis
