// The behavior service's churn models: features written as a dataset version, the pipeline
// (train.xgboost, register) started and followed, every person scored with the model it
// registered, and the scores written back as person properties.

#include <spdlog/spdlog.h>

#include "behavior/behavior.hpp"
#include "behavior/churn.hpp"
#include "common/time.hpp"
#include "datasets/datasets.hpp"
#include "pipeline/pipelines.hpp"
#include "registry/registry.hpp"

namespace aimass::behavior {

using nlohmann::json;

namespace {

std::string ChurnName(const std::string& project) { return "churn-" + project; }

std::string ChurnSpec(const std::string& project) {
  const std::string name = ChurnName(project);
  json spec = {
      {"name", name},
      {"description", "Trains behaviour project " + project + "'s churn model and registers it (made by the behavior module)"},
      {"params", {{"version", "latest"}, {"num_round", 100}, {"max_depth", 4}}},
      {"steps",
       json::array({{{"name", "train"}, {"uses", "train.xgboost"}, {"cache", false},
                     {"resources", {{"cpus", 2}, {"memory_mb", 4096}}},
                     {"with", {{"train", {{"dataset", name}, {"version", "${{ params.version }}"}}}, {"label", "label"},
                               {"num_round", "${{ params.num_round }}"}, {"max_depth", "${{ params.max_depth }}"}, {"seed", 0}}}},
                    {{"name", "register"}, {"uses", "register"}, {"needs", {"train"}},
                     {"with", {{"model", name}, {"task", "tabular-classification"}, {"run", "${{ steps.train.outputs.run }}"},
                               {"artifact", "model/model.json"}, {"framework", "xgboost"}}}}})}};
  return spec.dump();
}

}  // namespace

Result<json> BehaviorService::TrainChurn(const std::string& project, const json& body, const Principal& who) {
  if (!options_.pipelines || !options_.registry || !options_.datasets) {
    return Status::Unavailable("this process has no pipeline, registry or datasets module to train with");
  }
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  if (!body.is_object()) return Status::BadRequest("the body is an object {label_property, date_to, top_events, property, num_round, max_depth}");
  if (auto cur = store_.GetItem("model", project, "churn"); cur.ok()) {
    json state = json::parse(cur->body, nullptr, false);
    const std::string s = state.value("state", "");
    if (s == "preparing" || s == "training") return Status::Conflict("project '" + project + "' trains its churn model now");
  }
  AIMASS_ASSIGN_OR_RETURN(const std::string property, TextOf(body, "property", "churn_probability"));
  if (property.empty() || property.size() > kMaxName) return Status::BadRequest("property is 1-200 characters");
  AIMASS_ASSIGN_OR_RETURN(const int64_t rounds, IntOf(body, "num_round", 100));
  AIMASS_ASSIGN_OR_RETURN(const int64_t depth, IntOf(body, "max_depth", 4));
  if (rounds < 1 || rounds > 10000 || depth < 1 || depth > 20) return Status::BadRequest("num_round is 1-10,000 and max_depth 1-20");
  // The cut-off is fixed now, so that scoring later reads the same features.
  json request = body;
  {
    json r = {{"date_from", "1970-01-01"}, {"interval", "month"}, {"date_to", body.contains("date_to") ? body["date_to"] : json()}};
    AIMASS_ASSIGN_OR_RETURN(Range range, ParseRange(r, UnixNowMs()));
    request["date_to"] = Rfc3339Ms(range.to - 1);
  }
  auto ctx = Context(p);
  AIMASS_ASSIGN_OR_RETURN(ChurnFeatures f, BuildChurnFeatures(*ctx, request));
  size_t rows = 0;
  const std::string csv = TrainingCsv(f, &rows);
  size_t positive = 0, labelled = 0;
  for (size_t i = 0; i < f.ids.size(); ++i) {
    if (f.label[i] < 0 || HeldOut(f.ids[i])) continue;
    ++labelled;
    positive += f.label[i] == 1;
  }
  if (labelled < 20 || positive == 0 || positive == labelled) {
    return Status::BadRequest("the churn model needs at least 20 persons labelled by '" + body.value("label_property", std::string()) +
                              "' (true or false), of both kinds; there are " + std::to_string(labelled) + " (" +
                              std::to_string(positive) + " true) besides those held out for its evaluation");
  }
  // The features as a version of the project's churn dataset.
  const std::string name = ChurnName(project);
  if (!options_.datasets->Get(name).ok()) {
    auto created = options_.datasets->Create(name, "Behavioural features of behaviour project " + project + " (made by the behavior module)",
                                             datasets::DatasetKind::kTable, who.username);
    if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
  }
  datasets::Upload u;
  u.content_type = "text/csv";
  u.lineage_json = json{{"source", "behavior"}, {"project", project}, {"label_property", body.value("label_property", std::string())},
                        {"date_to", request["date_to"]}}
                       .dump();
  u.message = "churn features of " + std::to_string(rows) + " labelled persons";
  AIMASS_ASSIGN_OR_RETURN(datasets::AddedVersion added, options_.datasets->AddVersionFromBytes(name, csv, std::move(u), who));
  json state = {{"state", "preparing"},
                {"request", request},
                {"property", property},
                {"dataset", name},
                {"version", added.version.version},
                {"features", f.names},
                {"persons", f.ids.size()},
                {"labelled", labelled},
                {"held_out", [&] {
                   size_t n = 0;
                   for (size_t i = 0; i < f.ids.size(); ++i) n += f.label[i] >= 0 && HeldOut(f.ids[i]);
                   return n;
                 }()},
                {"started", Rfc3339Ms(UnixNowMs())},
                {"owner", who.username}};
  const int64_t now = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.PutItem("model", ItemRow{project, "churn", who.username, state.dump(), now, now}));
  AIMASS_RETURN_IF_ERROR(AdvanceChurn(project));
  return Churn(project);
}

Result<json> BehaviorService::Churn(const std::string& project) {
  AIMASS_RETURN_IF_ERROR(Find(project).status());
  AIMASS_RETURN_IF_ERROR(AdvanceChurn(project));
  auto item = store_.GetItem("model", project, "churn");
  if (!item.ok()) return Status::NotFound("project '" + project + "' has no churn model: POST …/models/churn trains one");
  json state = json::parse(item->body, nullptr, false);
  state["updated"] = Rfc3339Ms(item->updated_ms);
  return state;
}

Status BehaviorService::AdvanceChurn(const std::string& project) {
  std::lock_guard lock(churn_mu_);  // the background loop and requests advance it one at a time
  auto item = store_.GetItem("model", project, "churn");
  if (!item.ok() || !options_.pipelines) return Status::Ok();
  json state = json::parse(item->body, nullptr, false);
  if (state.is_discarded()) return Status::Ok();
  const std::string s = state.value("state", "");
  auto save = [&]() { return store_.PutItem("model", ItemRow{project, "churn", item->owner, state.dump(), item->created_ms, UnixNowMs()}); };
  auto fail = [&](const std::string& why) {
    state["state"] = "failed";
    state["error"] = why;
    spdlog::warn("behavior project {}: churn model failed: {}", project, why);
    return save();
  };
  if (s == "preparing") {
    auto v = options_.datasets->Resolve(state["dataset"], std::to_string(state["version"].get<int64_t>()));
    if (!v.ok()) return fail("the features' dataset version: " + v.status().message());
    if (v->status == "failed") return fail("the features' dataset version failed: " + v->message);
    if (v->status != "ready") return Status::Ok();
    Principal who;
    who.username = item->owner;
    const std::string name = ChurnName(project);
    if (!options_.pipelines->Get(name).ok()) {
      auto created = options_.pipelines->Create(ChurnSpec(project), who);
      if (!created.ok() && created.status().code() != Code::kConflict) return fail("the pipeline: " + created.status().message());
    }
    const json& req = state["request"];
    auto run = options_.pipelines->StartRun(
        name, json{{"version", std::to_string(state["version"].get<int64_t>())}, {"num_round", req.value("num_round", 100)}, {"max_depth", req.value("max_depth", 4)}},
        "api", who);
    if (!run.ok()) return fail("the pipeline run: " + run.status().message());
    state["state"] = "training";
    state["pipeline_run"] = run->run.id;
    return save();
  }
  if (s != "training") return Status::Ok();
  auto run = options_.pipelines->GetRun(state["pipeline_run"].get<int64_t>());
  if (!run.ok()) return fail("the pipeline run: " + run.status().message());
  if (run->run.state == "failed" || run->run.state == "cancelled") return fail(options_.pipelines->FailureOf(*run));
  if (run->run.state != "succeeded") return Status::Ok();
  for (const auto& step : run->steps) {
    json outputs = json::parse(step.outputs, nullptr, false);
    if (!outputs.is_object()) continue;
    if (step.step == "register" && outputs.contains("version")) state["model_version"] = outputs["version"];
    if (step.step == "train") {
      state["model_features"] = outputs.value("features", json::array());
      state["metrics"] = outputs.value("metrics", json::object());
      state["tracking_run"] = outputs.value("run", json());
    }
  }
  if (!state.contains("model_version") || !state["model_version"].is_number_integer()) return fail("the register step gave no model version");
  Status scored = ScoreChurnModel(project, state);
  if (!scored.ok()) return fail("scoring: " + scored.message());
  return save();
}

Status BehaviorService::ScoreChurnModel(const std::string& project, json& state) {
  AIMASS_ASSIGN_OR_RETURN(auto p, Find(project));
  AIMASS_ASSIGN_OR_RETURN(auto version, options_.registry->GetVersion(ChurnName(project), state["model_version"].get<int64_t>()));
  AIMASS_ASSIGN_OR_RETURN(std::string path, options_.registry->ArtifactPath(version));
  auto ctx = Context(p);
  AIMASS_ASSIGN_OR_RETURN(ChurnFeatures f, BuildChurnFeatures(*ctx, state["request"]));
  std::vector<std::string> names;
  for (const auto& n : state.value("model_features", json::array())) names.push_back(n);
  if (names.empty()) names = f.names;
  AIMASS_ASSIGN_OR_RETURN(std::vector<float> scores, ScoreChurn(path, f, names));
  // The model's evaluation: the labelled persons it was not trained on.
  std::vector<float> held_scores;
  std::vector<int> held_labels;
  for (size_t i = 0; i < f.ids.size(); ++i) {
    if (f.label[i] >= 0 && HeldOut(f.ids[i])) held_scores.push_back(scores[i]), held_labels.push_back(f.label[i]);
  }
  const double auc = RocAuc(held_scores, held_labels);
  state["holdout_auc"] = std::isnan(auc) ? json() : json(auc);
  const std::string property = state.value("property", "churn_probability");
  std::vector<std::pair<std::string, json>> written;
  written.reserve(f.ids.size());
  for (size_t i = 0; i < f.ids.size(); ++i) written.push_back({f.ids[i], json{{property, std::round(scores[i] * 1e6) / 1e6}}});
  ctx.reset();
  for (size_t at = 0; at < written.size(); at += 10000) {
    std::vector<std::pair<std::string, json>> part(written.begin() + static_cast<std::ptrdiff_t>(at),
                                                   written.begin() + static_cast<std::ptrdiff_t>(std::min(written.size(), at + 10000)));
    AIMASS_RETURN_IF_ERROR(p->SetProperties(part));
  }
  state["state"] = "scored";
  state["scored"] = f.ids.size();
  state["finished"] = Rfc3339Ms(UnixNowMs());
  if (options_.bus) {
    options_.bus->Publish("behavior.churn.scored", json{{"project", project}, {"model_version", state["model_version"]}, {"persons", f.ids.size()},
                                                        {"holdout_auc", state["holdout_auc"]}}.dump());
  }
  spdlog::info("behavior project {}: churn model version {} scored {} persons", project, state["model_version"].dump(), f.ids.size());
  return Status::Ok();
}

}  // namespace aimass::behavior
