// The labelling projects' tables: projects, annotations (one per item and annotator), the
// reservations of items handed out, reviews (the accepted label of an item), predictions
// (pre-labels from a model, votes of the labelling functions) and labelling functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "storage/db.hpp"

namespace aimass::analysis {

struct ProjectRow {
  std::string name, dataset;
  int64_t version = 0;
  std::string source_kind;  // table | files
  int64_t items = 0;
  std::string schema, config;  // JSON
  std::string owner;
  int64_t since_retrain = 0;  // labels since the retrain pipeline last started
  int64_t created_ms = 0, updated_ms = 0;
};

struct Annotation {
  int64_t item = 0;
  std::string annotator, value;  // value: canonical JSON
  int64_t lead_ms = 0, created_ms = 0;
};

struct Review {
  int64_t item = 0;
  std::string status, value, reviewer;  // accepted | rejected
  int64_t created_ms = 0;
};

struct Prediction {
  int64_t item = 0;
  std::string source, value;  // model | functions
  double score = 0;
  std::string model_version;
};

class LabellingStore {
 public:
  explicit LabellingStore(storage::Db& db) : db_(db) {}
  static std::vector<storage::Migration> Migrations();

  Status CreateProject(const ProjectRow& p);
  Result<ProjectRow> Project(const std::string& name);
  Result<std::vector<ProjectRow>> Projects();
  Status UpdateConfig(const std::string& name, const std::string& config, int64_t now_ms);
  Status DeleteProject(const std::string& name);

  Result<std::vector<Annotation>> Annotations(const std::string& project);
  // Writes (or replaces) one annotator's label of an item and drops their reservation; returns
  // the project's labels since the last retrain, counted in the same transaction.
  Result<int64_t> Annotate(const std::string& project, const Annotation& a, bool counts_for_retrain);
  // Removes it (undo); not found when there was none.
  Status Unannotate(const std::string& project, int64_t item, const std::string& annotator);
  Status ResetRetrainCount(const std::string& project);

  // Reservations still live at now_ms: item → annotators.
  Result<std::map<int64_t, std::vector<std::string>>> Reservations(const std::string& project, int64_t now_ms);
  Status Reserve(const std::string& project, int64_t item, const std::string& annotator, int64_t expires_ms);

  Result<std::vector<Review>> Reviews(const std::string& project);
  Status SetReview(const std::string& project, const Review& r);

  Result<std::vector<Prediction>> Predictions(const std::string& project, const std::string& source);
  Result<std::optional<Prediction>> PredictionOf(const std::string& project, int64_t item, const std::string& source);
  // Replaces the source's predictions of the given items.
  Status PutPredictions(const std::string& project, const std::vector<Prediction>& p);

  Result<std::vector<std::pair<std::string, std::string>>> Functions(const std::string& project);  // name, spec
  Status PutFunction(const std::string& project, const std::string& name, const std::string& spec);
  Status DeleteFunction(const std::string& project, const std::string& name);

 private:
  storage::Db& db_;
};

}  // namespace aimass::analysis
