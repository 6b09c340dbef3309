// The behavior service: projects of captured events (from the API, a followed message-queue
// topic, or a dataset version), persons and identity, insights (trends, funnels, retention,
// lifecycle, stickiness, paths), cohorts, RFM and lifetime models written back as person
// properties, saved insights and dashboards. No HTTP in it (api.cpp).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "behavior/project.hpp"
#include "behavior/store.hpp"
#include "common/principal.hpp"
#include "common/status.hpp"

namespace aimass::datasets {
class Datasets;
}
namespace aimass::events {
class EventBus;
}
namespace aimass::mq {
class Broker;
}
namespace aimass::pipeline {
class Pipelines;
}
namespace aimass::registry {
class Registry;
}

namespace aimass::behavior {

struct InsightContext;

struct BehaviorOptions {
  std::string dir;                // projects' files: <dir>/<project>/
  int threads = 0;                // per query; 0: every usable core
  bool fsync = true;              // capture acknowledged after fdatasync
  int64_t checkpoint_ms = 30'000;  // how often unsaved events are checkpointed
  size_t max_batch = 100'000;     // events in one capture request
  datasets::Datasets* datasets = nullptr;
  events::EventBus* bus = nullptr;
  mq::Broker* broker = nullptr;   // null: projects cannot follow topics
  pipeline::Pipelines* pipelines = nullptr;  // null (with registry): no churn models
  registry::Registry* registry = nullptr;
};

class BehaviorService {
 public:
  BehaviorService(storage::Db& db, BehaviorOptions options);
  ~BehaviorService();
  static std::vector<storage::Migration> Migrations() { return BehaviorStore::Migrations(); }

  Status Open();
  void Stop();

  Result<nlohmann::json> CreateProject(const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> ListProjects();
  Result<nlohmann::json> GetProject(const std::string& name);
  Result<nlohmann::json> UpdateProject(const std::string& name, const nlohmann::json& body);
  Status DeleteProject(const std::string& name);

  Result<nlohmann::json> Capture(const std::string& project, const nlohmann::json& body);
  Result<nlohmann::json> Alias(const std::string& project, const nlohmann::json& body);
  Result<nlohmann::json> Import(const std::string& project, const nlohmann::json& body);

  // kind: trends | funnels | retention | lifecycle | stickiness | paths | rfm | lifetime.
  Result<nlohmann::json> Insight(const std::string& project, const std::string& kind, const nlohmann::json& body);

  Result<nlohmann::json> Person(const std::string& project, const std::string& distinct_id);
  Result<nlohmann::json> Persons(const std::string& project, const std::string& search, const std::string& cohort, size_t limit, size_t offset);
  Result<nlohmann::json> SetPersonProperties(const std::string& project, const std::string& distinct_id, const nlohmann::json& body);
  Result<nlohmann::json> Events(const std::string& project, const std::string& distinct_id, const std::string& event, size_t limit);
  // Event names and property keys with their types: what pickers offer.
  Result<nlohmann::json> Schema(const std::string& project);
  // A text property's values (of events, or of persons), those holding `q` (any case), sorted.
  Result<nlohmann::json> PropertyValues(const std::string& project, const std::string& key, bool person, const std::string& q, size_t limit);

  // kind: cohort | insight | dashboard.
  Result<nlohmann::json> PutItem(const std::string& kind, const std::string& project, const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> ListItems(const std::string& kind, const std::string& project);
  // A cohort with its size, a saved insight with its answer, a dashboard with each insight's.
  Result<nlohmann::json> GetItem(const std::string& kind, const std::string& project, const std::string& name);
  Status DeleteItem(const std::string& kind, const std::string& project, const std::string& name);
  Result<nlohmann::json> CohortPersons(const std::string& project, const std::string& name, size_t limit, size_t offset);

  // Trains the project's churn model through a pipeline {label_property, date_to, top_events,
  // property, num_round, max_depth}; it scores every person when the run succeeds.
  Result<nlohmann::json> TrainChurn(const std::string& project, const nlohmann::json& body, const Principal& who);
  // The churn model's state: preparing | training | scored | failed, with its run, model
  // version, evaluation on the held-out persons, and persons scored.
  Result<nlohmann::json> Churn(const std::string& project);

 private:
  Result<std::shared_ptr<Project>> Find(const std::string& name);
  std::unique_ptr<InsightContext> Context(const std::shared_ptr<Project>& p);
  Result<std::vector<uint8_t>> CohortMask(const std::string& project, const std::string& cohort, InsightContext& ctx, int depth);
  // An insight's answer with its kind and time taken.
  Result<nlohmann::json> RunInsight(const std::shared_ptr<Project>& p, const std::string& kind, const nlohmann::json& body);
  Result<nlohmann::json> RunKind(const std::shared_ptr<Project>& p, const std::string& kind, const nlohmann::json& body);
  void Background();
  // Moves a churn model on: its features' dataset version ready → the pipeline run started; the
  // run succeeded → every person scored.
  Status AdvanceChurn(const std::string& project);
  Status ScoreChurnModel(const std::string& project, nlohmann::json& state);
  void FollowTopics();

  BehaviorStore store_;
  BehaviorOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Project>> projects_;
  std::mutex churn_mu_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread background_, follower_;
};

}  // namespace aimass::behavior
