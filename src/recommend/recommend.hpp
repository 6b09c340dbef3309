// The recommend service: recommender apps (configuration, catalogue, users, feedback), models
// trained by a pipeline (train.recommend → register) and loaded from the registry, answers
// (recommendations, similar items, a session's next item) from each app's live state with the
// reason for every item, offline evaluations, and A/B experiments. No HTTP in here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/principal.hpp"
#include "common/status.hpp"
#include "recommend/app_config.hpp"
#include "recommend/live_app.hpp"
#include "recommend/store.hpp"

namespace aimass::events {
class EventBus;
}
namespace aimass::mq {
class Broker;
}
namespace aimass::datasets {
class Datasets;
}
namespace aimass::pipeline {
class Pipelines;
}
namespace aimass::registry {
class Registry;
}

namespace aimass::recommend {

struct RecommendOptions {
  events::EventBus* bus = nullptr;
  mq::Broker* broker = nullptr;          // null: apps cannot follow topics
  datasets::Datasets* datasets = nullptr;  // null: no imports from datasets
  pipeline::Pipelines* pipelines = nullptr;
  registry::Registry* registry = nullptr;
  int sweep_interval_ms = 500;  // how often training runs, evaluations and exposures are looked after
};

// What a recommendation request asks for.
struct Query {
  size_t n = 10;
  std::string category;   // only items of this category
  std::string algorithm;  // a source name; empty: the app's (or its experiment's)
  std::optional<int> max_per_category;
  bool explain = true;
  bool preview = false;  // a look (the console's): no experiment, no exposures recorded
};

std::string ModelOf(const std::string& app);     // recommend-<app>: the registry model
std::string PipelineOf(const std::string& app);  // recommend-<app>: its training pipeline
std::string EvaluationPipelineOf(const std::string& app);

class RecommendService {
 public:
  RecommendService(storage::Db& db, RecommendOptions options);
  ~RecommendService();
  static std::vector<storage::Migration> Migrations() { return RecommendStore::Migrations(); }

  Status Load();  // every app's state from the store, and the models they serve
  void Start();
  void Stop();

  Result<nlohmann::json> CreateApp(const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> ListApps();
  Result<nlohmann::json> GetApp(const std::string& app);
  Result<nlohmann::json> UpdateApp(const std::string& app, const nlohmann::json& body);
  Status DeleteApp(const std::string& app);

  Result<nlohmann::json> PutItems(const std::string& app, const nlohmann::json& items);  // a list of items
  Result<nlohmann::json> GetItem(const std::string& app, const std::string& id);
  Result<nlohmann::json> ListItems(const std::string& app, const std::string& after, int64_t limit);
  Status DeleteItem(const std::string& app, const std::string& id);
  Result<nlohmann::json> PutUsers(const std::string& app, const nlohmann::json& users);
  Result<nlohmann::json> GetUser(const std::string& app, const std::string& id, int64_t history);
  Result<nlohmann::json> ListUsers(const std::string& app, const std::string& after, int64_t limit);
  Result<nlohmann::json> Categories(const std::string& app);  // each category with its listed items

  // Stores a list of feedback (all or nothing) and applies it to the app's live state.
  Result<nlohmann::json> AddFeedback(const std::string& app, const nlohmann::json& list);
  // Feedback from a dataset version {dataset, version, columns: {user, item, timestamp, type?,
  // value?, session?}, type?}: one transaction, once per version.
  Result<nlohmann::json> Import(const std::string& app, const nlohmann::json& body);
  // All feedback, weighted by the app's types, as tab-separated lines: user, item, weight, ms, session.
  Result<std::string> ExportFeedback(const std::string& app);

  Result<nlohmann::json> Recommend(const std::string& app, const std::string& user, const Query& q);
  Result<nlohmann::json> Similar(const std::string& app, const std::string& item, const Query& q);
  Result<nlohmann::json> Next(const std::string& app, const std::string& session, const Query& q);

  Result<nlohmann::json> Train(const std::string& app, const Principal& who);
  Result<nlohmann::json> Evaluate(const std::string& app, const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> GetEvaluation(const std::string& app, int64_t id);
  Result<nlohmann::json> ListEvaluations(const std::string& app);

  Result<nlohmann::json> CreateExperiment(const std::string& app, const nlohmann::json& body);
  Result<nlohmann::json> ListExperiments(const std::string& app);
  Result<nlohmann::json> GetExperiment(const std::string& app, const std::string& name);
  Result<nlohmann::json> StopExperiment(const std::string& app, const std::string& name);

  // Background work: training runs that finished, evaluations, exposures to store.
  void Sweep();
  void FlushExposures();

 private:
  struct App {
    AppConfig config;
    LiveApp live;
    std::vector<nlohmann::json> experiments;  // running ones: {name, variants:[{name, algorithm, weight}]}
    std::mutex experiments_mu;
    uint32_t warm_next = 0;      // the next user whose fold-ins WarmFoldIns computes
    int64_t warmed_version = 0;  // for this model version
    std::mutex source_mu;  // the topic it follows: messages stored, refused, the last refusal
    uint64_t source_messages = 0, source_rejected = 0;
    std::string source_error;
  };

  Result<std::shared_ptr<App>> Find(const std::string& app);
  static Result<FeedbackRow> ParseFeedback(const AppConfig& config, const nlohmann::json& f, int64_t now_ms);
  void Apply(App& a, const std::vector<FeedbackRow>& rows);
  void FollowTopics();  // the consumer thread's loop
  void WarmFoldIns(App& a, size_t budget);
  Status LoadApp(const AppRow& row);
  Status LoadModel(const std::string& app, App& a, int64_t version);
  Status RefreshTraining(const std::string& app);
  Status RefreshEvaluation(const EvaluationRow& e);
  Result<nlohmann::json> AppJson(const AppRow& row, App& a);
  nlohmann::json Reason(const App& a, const LoadedModel* m, const recsys::Candidate& c, const std::string& category) const;
  nlohmann::json ItemBrief(const App& a, uint32_t item) const;
  // The variant of a running experiment this user falls in, if any: {experiment, variant, algorithm}.
  std::optional<nlohmann::json> VariantOf(App& a, const std::string& user);
  Result<nlohmann::json> ExperimentResults(const std::string& app, App& a, const ExperimentRow& e);

  RecommendStore store_;
  RecommendOptions options_;
  std::mutex apps_mu_;
  std::map<std::string, std::shared_ptr<App>> apps_;
  std::mutex exposures_mu_;
  std::vector<ExposureRow> exposures_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
  std::thread follower_;
};

}  // namespace aimass::recommend
