#include "analysis/labelling_store.hpp"

namespace aimass::analysis {

using storage::Row;

std::vector<storage::Migration> LabellingStore::Migrations() {
  return {{"analysis", 2, R"(
CREATE TABLE labelling_projects (
  name TEXT PRIMARY KEY,
  dataset TEXT NOT NULL,
  version INTEGER NOT NULL,
  source_kind TEXT NOT NULL,
  items INTEGER NOT NULL,
  schema TEXT NOT NULL,
  config TEXT NOT NULL,
  owner TEXT NOT NULL,
  since_retrain INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE labelling_annotations (
  project TEXT NOT NULL,
  item INTEGER NOT NULL,
  annotator TEXT NOT NULL,
  value TEXT NOT NULL,
  lead_ms INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (project, item, annotator)
);
CREATE TABLE labelling_reservations (
  project TEXT NOT NULL,
  item INTEGER NOT NULL,
  annotator TEXT NOT NULL,
  expires_ms INTEGER NOT NULL,
  PRIMARY KEY (project, item, annotator)
);
CREATE TABLE labelling_reviews (
  project TEXT NOT NULL,
  item INTEGER NOT NULL,
  status TEXT NOT NULL,
  value TEXT NOT NULL,
  reviewer TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (project, item)
);
CREATE TABLE labelling_predictions (
  project TEXT NOT NULL,
  item INTEGER NOT NULL,
  source TEXT NOT NULL,
  value TEXT NOT NULL,
  score REAL NOT NULL,
  model_version TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (project, item, source)
);
CREATE TABLE labelling_functions (
  project TEXT NOT NULL,
  name TEXT NOT NULL,
  spec TEXT NOT NULL,
  PRIMARY KEY (project, name)
);
)"}};
}

namespace {

constexpr const char* kProject = "name, dataset, version, source_kind, items, schema, config, owner, since_retrain, created_ms, updated_ms";

ProjectRow ProjectOf(const Row& r) {
  return {r.Text(0), r.Text(1), r.Int(2), r.Text(3), r.Int(4), r.Text(5), r.Text(6), r.Text(7), r.Int(8), r.Int(9), r.Int(10)};
}

}  // namespace

Status LabellingStore::CreateProject(const ProjectRow& p) {
  auto r = db_.Exec(std::string("INSERT OR IGNORE INTO labelling_projects (") + kProject + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    {p.name, p.dataset, p.version, p.source_kind, p.items, p.schema, p.config, p.owner, int64_t{0}, p.created_ms, p.updated_ms});
  if (!r.ok()) return r.status();
  if (*r == 0) return Status::Conflict("labelling project '" + p.name + "' exists");
  return Status::Ok();
}

Result<ProjectRow> LabellingStore::Project(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kProject + " FROM labelling_projects WHERE name = ?", {name}));
  if (rows.empty()) return Status::NotFound("no labelling project '" + name + "'");
  return ProjectOf(rows[0]);
}

Result<std::vector<ProjectRow>> LabellingStore::Projects() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kProject + " FROM labelling_projects ORDER BY name"));
  std::vector<ProjectRow> out;
  for (const auto& r : rows) out.push_back(ProjectOf(r));
  return out;
}

Status LabellingStore::UpdateConfig(const std::string& name, const std::string& config, int64_t now_ms) {
  return db_.Exec("UPDATE labelling_projects SET config = ?, updated_ms = ? WHERE name = ?", {config, now_ms, name}).status();
}

Status LabellingStore::DeleteProject(const std::string& name) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const char* t : {"labelling_annotations", "labelling_reservations", "labelling_reviews", "labelling_predictions", "labelling_functions"}) {
      AIMASS_RETURN_IF_ERROR(tx.Exec(std::string("DELETE FROM ") + t + " WHERE project = ?", {name}).status());
    }
    AIMASS_ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM labelling_projects WHERE name = ?", {name}));
    if (n == 0) return Status::NotFound("no labelling project '" + name + "'");
    return Status::Ok();
  });
}

Result<std::vector<Annotation>> LabellingStore::Annotations(const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT item, annotator, value, lead_ms, created_ms FROM labelling_annotations WHERE project = ? "
                                               "ORDER BY item, created_ms, annotator",
                                               {project}));
  std::vector<Annotation> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Int(3), r.Int(4)});
  return out;
}

Result<int64_t> LabellingStore::Annotate(const std::string& project, const Annotation& a, bool counts_for_retrain) {
  int64_t since = 0;
  AIMASS_RETURN_IF_ERROR(db_.Transaction([&](storage::Tx& tx) -> Status {
    AIMASS_ASSIGN_OR_RETURN(auto had, tx.Query("SELECT 1 FROM labelling_annotations WHERE project = ? AND item = ? AND annotator = ?",
                                               {project, a.item, a.annotator}));
    AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO labelling_annotations (project, item, annotator, value, lead_ms, created_ms) VALUES (?, ?, ?, ?, ?, ?) "
                                   "ON CONFLICT (project, item, annotator) DO UPDATE SET value = excluded.value, lead_ms = excluded.lead_ms, "
                                   "created_ms = excluded.created_ms",
                                   {project, a.item, a.annotator, a.value, a.lead_ms, a.created_ms})
                               .status());
    AIMASS_RETURN_IF_ERROR(
        tx.Exec("DELETE FROM labelling_reservations WHERE project = ? AND item = ? AND annotator = ?", {project, a.item, a.annotator}).status());
    if (had.empty() && counts_for_retrain) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("UPDATE labelling_projects SET since_retrain = since_retrain + 1 WHERE name = ?", {project}).status());
    }
    AIMASS_ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT since_retrain FROM labelling_projects WHERE name = ?", {project}));
    since = rows.empty() ? 0 : rows[0].Int(0);
    return Status::Ok();
  }));
  return since;
}

Status LabellingStore::Unannotate(const std::string& project, int64_t item, const std::string& annotator) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM labelling_annotations WHERE project = ? AND item = ? AND annotator = ?",
                                              {project, item, annotator}));
  if (n == 0) return Status::NotFound("no label of yours on task " + std::to_string(item));
  return Status::Ok();
}

Status LabellingStore::ResetRetrainCount(const std::string& project) {
  return db_.Exec("UPDATE labelling_projects SET since_retrain = 0 WHERE name = ?", {project}).status();
}

Result<std::map<int64_t, std::vector<std::string>>> LabellingStore::Reservations(const std::string& project, int64_t now_ms) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT item, annotator FROM labelling_reservations WHERE project = ? AND expires_ms > ?",
                                               {project, now_ms}));
  std::map<int64_t, std::vector<std::string>> out;
  for (const auto& r : rows) out[r.Int(0)].push_back(r.Text(1));
  return out;
}

Status LabellingStore::Reserve(const std::string& project, int64_t item, const std::string& annotator, int64_t expires_ms) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    // One live reservation per annotator: taking a task lets go of the one held before.
    AIMASS_RETURN_IF_ERROR(tx.Exec("DELETE FROM labelling_reservations WHERE project = ? AND annotator = ?", {project, annotator}).status());
    return tx.Exec("INSERT INTO labelling_reservations (project, item, annotator, expires_ms) VALUES (?, ?, ?, ?)",
                   {project, item, annotator, expires_ms})
        .status();
  });
}

Result<std::vector<Review>> LabellingStore::Reviews(const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT item, status, value, reviewer, created_ms FROM labelling_reviews WHERE project = ? ORDER BY item",
                                               {project}));
  std::vector<Review> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)});
  return out;
}

Status LabellingStore::SetReview(const std::string& project, const Review& r) {
  return db_.Exec("INSERT INTO labelling_reviews (project, item, status, value, reviewer, created_ms) VALUES (?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (project, item) DO UPDATE SET status = excluded.status, value = excluded.value, reviewer = excluded.reviewer, "
                  "created_ms = excluded.created_ms",
                  {project, r.item, r.status, r.value, r.reviewer, r.created_ms})
      .status();
}

Result<std::vector<Prediction>> LabellingStore::Predictions(const std::string& project, const std::string& source) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT item, source, value, score, model_version FROM labelling_predictions "
                                               "WHERE project = ? AND source = ? ORDER BY item",
                                               {project, source}));
  std::vector<Prediction> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Text(1), r.Text(2), r.Double(3), r.Text(4)});
  return out;
}

Result<std::optional<Prediction>> LabellingStore::PredictionOf(const std::string& project, int64_t item, const std::string& source) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT item, source, value, score, model_version FROM labelling_predictions "
                                               "WHERE project = ? AND item = ? AND source = ?",
                                               {project, item, source}));
  if (rows.empty()) return std::optional<Prediction>();
  return std::optional<Prediction>(Prediction{rows[0].Int(0), rows[0].Text(1), rows[0].Text(2), rows[0].Double(3), rows[0].Text(4)});
}

Status LabellingStore::PutPredictions(const std::string& project, const std::vector<Prediction>& p) {
  return db_.Transaction([&](storage::Tx& tx) -> Status {
    for (const auto& x : p) {
      AIMASS_RETURN_IF_ERROR(tx.Exec("INSERT INTO labelling_predictions (project, item, source, value, score, model_version) VALUES (?, ?, ?, ?, ?, ?) "
                                     "ON CONFLICT (project, item, source) DO UPDATE SET value = excluded.value, score = excluded.score, "
                                     "model_version = excluded.model_version",
                                     {project, x.item, x.source, x.value, x.score, x.model_version})
                                 .status());
    }
    return Status::Ok();
  });
}

Result<std::vector<std::pair<std::string, std::string>>> LabellingStore::Functions(const std::string& project) {
  AIMASS_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT name, spec FROM labelling_functions WHERE project = ? ORDER BY name", {project}));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : rows) out.emplace_back(r.Text(0), r.Text(1));
  return out;
}

Status LabellingStore::PutFunction(const std::string& project, const std::string& name, const std::string& spec) {
  return db_.Exec("INSERT INTO labelling_functions (project, name, spec) VALUES (?, ?, ?) ON CONFLICT (project, name) DO UPDATE SET spec = excluded.spec",
                  {project, name, spec})
      .status();
}

Status LabellingStore::DeleteFunction(const std::string& project, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(int64_t n, db_.Exec("DELETE FROM labelling_functions WHERE project = ? AND name = ?", {project, name}));
  if (n == 0) return Status::NotFound("no labelling function '" + name + "'");
  return Status::Ok();
}

}  // namespace aimass::analysis
