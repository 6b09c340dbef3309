// Where the recommend module keeps its state, in the metadata store: apps (their configuration,
// training state and the model version they serve), the catalogue, users, the feedback log,
// offline evaluations, and A/B experiments with the recommendations they showed.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::recommend {

struct AppRow {
  std::string name;
  std::string owner;
  std::string config;  // JSON (AppConfig)
  std::string state = "untrained";  // untrained | training | trained | failed
  int64_t pipeline_run = 0;
  int64_t model_version = 0;  // the registry version of recommend-<app> served now
  std::string error;
  int64_t created_ms = 0, updated_ms = 0;
};

struct ItemRow {
  std::string app, id;
  std::string categories = "[]";  // JSON arrays and object
  std::string labels = "[]";
  std::string properties = "{}";
  bool hidden = false;
  int64_t ts_ms = 0;
  int64_t updated_ms = 0;
};

struct UserRow {
  std::string app, id;
  std::string labels = "[]";
  std::string properties = "{}";
  int64_t created_ms = 0;
};

struct FeedbackRow {
  int64_t id = 0;
  std::string user, item, type;
  double value = 1;
  int64_t ts_ms = 0;
  std::string session;
};

struct EvaluationRow {
  int64_t id = 0;
  std::string app;
  std::string state = "running";  // running | succeeded | failed
  int64_t pipeline_run = 0;
  std::string request;  // JSON
  std::string result;   // JSON, or empty
  std::string error;
  int64_t created_ms = 0;
};

struct ExperimentRow {
  std::string app, name;
  std::string definition;  // JSON: variants, traffic
  std::string state = "running";  // running | stopped
  int64_t started_ms = 0, stopped_ms = 0;
};

// A recommendation shown to a user within an experiment: what later feedback is matched to.
struct ExposureRow {
  std::string app, experiment, variant, user, item;
  int64_t ts_ms = 0;
};

class RecommendStore {
 public:
  explicit RecommendStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status CreateApp(const AppRow& a);
  Result<AppRow> GetApp(const std::string& name);
  Result<std::vector<AppRow>> ListApps();
  Status UpdateConfig(const std::string& name, const std::string& config, int64_t now_ms);
  Status SetTraining(const std::string& name, int64_t pipeline_run);
  Status SetTrained(const std::string& name, const std::string& state, int64_t model_version, const std::string& error);
  Status DeleteApp(const std::string& name);

  Status PutItems(const std::vector<ItemRow>& items);
  Result<std::optional<ItemRow>> GetItem(const std::string& app, const std::string& id);
  Result<std::vector<ItemRow>> Items(const std::string& app, const std::string& after, int64_t limit);
  Status DeleteItem(const std::string& app, const std::string& id);
  Status PutUsers(const std::vector<UserRow>& users);
  Result<std::optional<UserRow>> GetUser(const std::string& app, const std::string& id);
  Result<std::vector<UserRow>> Users(const std::string& app, const std::string& after, int64_t limit);

  // Appends feedback in one transaction: all of it or none.
  Status AddFeedback(const std::string& app, const std::vector<FeedbackRow>& rows);
  // The feedback of a dataset version, recorded as imported in the same transaction (409 when it was).
  Status AddImport(const std::string& app, const std::string& dataset, int64_t version, const std::vector<FeedbackRow>& rows,
                   int64_t now_ms);
  Result<std::vector<nlohmann::json>> Imports(const std::string& app);
  // The feedback of message-queue messages, each message's id recorded with it: a message stored
  // before is skipped. Returns the indices of the messages stored now.
  Result<std::vector<size_t>> AddFromMessages(const std::string& app,
                                              const std::vector<std::pair<std::string, std::vector<FeedbackRow>>>& messages,
                                              int64_t now_ms);
  Status ForgetConsumed(int64_t before_ms);
  // Every piece of feedback of an app after `after_id`, in id order, `batch` at a time.
  Status ScanFeedback(const std::string& app, int64_t after_id, const std::function<Status(const FeedbackRow&)>& fn);
  // Feedback with a time from `from_ms` on (for experiments' results).
  Status ScanFeedbackSince(const std::string& app, int64_t from_ms, const std::function<Status(const FeedbackRow&)>& fn);
  Result<std::vector<FeedbackRow>> UserFeedback(const std::string& app, const std::string& user, int64_t limit);

  Result<int64_t> AddEvaluation(const EvaluationRow& e);
  Result<EvaluationRow> GetEvaluation(const std::string& app, int64_t id);
  Result<std::vector<EvaluationRow>> Evaluations(const std::string& app, int64_t limit);
  Status SetEvaluationRun(int64_t id, int64_t pipeline_run);
  Status FinishEvaluation(int64_t id, const std::string& state, const std::string& result, const std::string& error);

  Status PutExperiment(const ExperimentRow& e);
  Result<std::optional<ExperimentRow>> GetExperiment(const std::string& app, const std::string& name);
  Result<std::vector<ExperimentRow>> Experiments(const std::string& app);
  Status StopExperiment(const std::string& app, const std::string& name, int64_t now_ms);
  Status AddExposures(const std::vector<ExposureRow>& rows);
  Status ScanExposures(const std::string& app, const std::string& experiment,
                       const std::function<Status(const ExposureRow&)>& fn);

 private:
  storage::Db& db_;
};

}  // namespace aimass::recommend
