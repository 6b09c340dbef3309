// The recommend service's training, offline evaluations and experiments: pipelines started and
// followed, models loaded when their run succeeds, experiments' results from the feedback that
// followed what they showed.
#include <spdlog/spdlog.h>

#include <set>
#include <unordered_map>

#include "common/time.hpp"
#include "events/bus.hpp"
#include "pipeline/pipelines.hpp"
#include "recommend/experiment.hpp"
#include "recommend/recommend.hpp"

namespace aimass::recommend {

using nlohmann::json;

namespace {

std::string TrainSpec(const std::string& app) {
  const std::string model = ModelOf(app);
  json spec = {
      {"name", PipelineOf(app)},
      {"description", "Trains recommender app " + app + "'s model and registers it (made by the recommend module)"},
      {"steps",
       json::array({{{"name", "train"}, {"uses", "train.recommend"}, {"cache", false},
                     {"resources", {{"cpus", 2}, {"memory_mb", 8192}}},
                     {"with", {{"app", app}}}},
                    {{"name", "register"}, {"uses", "register"}, {"needs", {"train"}},
                     {"with", {{"model", model}, {"task", "recommendation"}, {"run", "${{ steps.train.outputs.run }}"},
                               {"artifact", "model/model.rec"}, {"framework", "recommend"}}}}})}};
  return spec.dump();
}

std::string EvaluateSpec(const std::string& app) {
  json spec = {{"name", EvaluationPipelineOf(app)},
               {"description", "Evaluates recommender app " + app + "'s algorithms offline (made by the recommend module)"},
               {"params", {{"split_at", ""}, {"k", 10}, {"evaluation", 0}}},
               {"steps",
                json::array({{{"name", "evaluate"}, {"uses", "evaluate.recommend"}, {"cache", false},
                              {"resources", {{"cpus", 2}, {"memory_mb", 8192}}},
                              {"with", {{"app", app}, {"split_at", "${{ params.split_at }}"}, {"k", "${{ params.k }}"},
                                        {"evaluation", "${{ params.evaluation }}"}}}}})}};
  return spec.dump();
}

Status EnsurePipeline(pipeline::Pipelines& p, const std::string& name, const std::string& spec, const Principal& who) {
  if (p.Get(name).ok()) return Status::Ok();
  auto created = p.Create(spec, who);
  if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
  return Status::Ok();
}

json EvaluationJson(const EvaluationRow& e) {
  json out = {{"id", e.id}, {"app", e.app}, {"state", e.state}, {"created_at", Rfc3339Ms(e.created_ms)},
              {"request", json::parse(e.request, nullptr, false)}};
  if (e.pipeline_run) out["pipeline_run"] = e.pipeline_run;
  if (!e.result.empty()) out["result"] = json::parse(e.result, nullptr, false);
  if (!e.error.empty()) out["error"] = e.error;
  return out;
}

}  // namespace

Result<json> RecommendService::Train(const std::string& app, const Principal& who) {
  if (!options_.pipelines) return Status::Unavailable("this process has no pipeline module to train with");
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  {
    std::shared_lock lock(a->live.mu);
    if (a->live.feedback_count == 0) return Status::Conflict("app '" + app + "' has no feedback to learn from");
  }
  AIMASS_ASSIGN_OR_RETURN(AppRow row, store_.GetApp(app));
  if (row.state == "training") return Status::Conflict("app '" + app + "' is training (pipeline run " + std::to_string(row.pipeline_run) + ")");
  AIMASS_RETURN_IF_ERROR(EnsurePipeline(*options_.pipelines, PipelineOf(app), TrainSpec(app), who));
  AIMASS_ASSIGN_OR_RETURN(pipeline::RunView run, options_.pipelines->StartRun(PipelineOf(app), json::object(), "api", who));
  AIMASS_RETURN_IF_ERROR(store_.SetTraining(app, run.run.id));
  if (options_.bus) options_.bus->Publish("recommend.app.training", json{{"app", app}, {"pipeline_run", run.run.id}}.dump());
  return GetApp(app);
}

Status RecommendService::RefreshTraining(const std::string& app) {
  if (!options_.pipelines) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(AppRow row, store_.GetApp(app));
  if (row.state != "training" || row.pipeline_run == 0) return Status::Ok();
  auto run = options_.pipelines->GetRun(row.pipeline_run);
  if (!run.ok()) return store_.SetTrained(app, "failed", 0, run.status().message());
  const std::string& state = run->run.state;
  if (state == "succeeded") {
    int64_t version = 0;
    for (const auto& s : run->steps) {
      json outputs = json::parse(s.outputs, nullptr, false);
      if (s.step == "register" && outputs.is_object() && outputs.contains("version") && outputs["version"].is_number_integer()) {
        version = outputs["version"].get<int64_t>();
      }
    }
    if (version == 0) return store_.SetTrained(app, "failed", 0, "the register step gave no model version");
    AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
    Status loaded = LoadModel(app, *a, version);
    if (!loaded.ok()) return store_.SetTrained(app, "failed", 0, "model version " + std::to_string(version) + ": " + loaded.message());
    AIMASS_RETURN_IF_ERROR(store_.SetTrained(app, "trained", version, ""));
    if (options_.bus) options_.bus->Publish("recommend.app.trained", json{{"app", app}, {"model_version", version}}.dump());
  } else if (state == "failed" || state == "cancelled") {
    AIMASS_RETURN_IF_ERROR(store_.SetTrained(app, "failed", 0, options_.pipelines->FailureOf(*run)));
  }
  return Status::Ok();
}

Result<json> RecommendService::Evaluate(const std::string& app, const json& body, const Principal& who) {
  if (!options_.pipelines) return Status::Unavailable("this process has no pipeline module to evaluate with");
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  const json b = body.is_null() ? json::object() : body;
  if (!b.is_object()) return Status::InvalidJson("the body is a JSON object");
  int64_t k = 10;
  if (b.contains("k")) {
    if (!b["k"].is_number_integer() || b["k"].get<int64_t>() < 1 || b["k"].get<int64_t>() > 100) return Status::BadRequest("k is from 1 to 100");
    k = b["k"].get<int64_t>();
  }
  // The split: a time, or the last `test_days` days of the app's feedback.
  std::string split;
  if (b.contains("split_at")) {
    if (!b["split_at"].is_string() || !ParseRfc3339Ms(b["split_at"].get<std::string>())) {
      return Status::BadRequest("split_at is an RFC 3339 time: feedback before it trains, from it on is the truth");
    }
    split = Rfc3339Ms(*ParseRfc3339Ms(b["split_at"].get<std::string>()));
  } else {
    int64_t days = 30;
    if (b.contains("test_days")) {
      if (!b["test_days"].is_number_integer() || b["test_days"].get<int64_t>() < 1 || b["test_days"].get<int64_t>() > 3650) {
        return Status::BadRequest("test_days is from 1 to 3650");
      }
      days = b["test_days"].get<int64_t>();
    }
    int64_t newest = 0;
    std::shared_lock lock(a->live.mu);
    for (const auto& u : a->live.user_state) {
      for (const auto& e : u.items) newest = std::max(newest, e.last_ms);
    }
    if (newest == 0) return Status::Conflict("app '" + app + "' has no feedback to evaluate on");
    split = Rfc3339Ms(newest - days * 86'400'000);
  }
  EvaluationRow e;
  e.app = app;
  e.request = json{{"split_at", split}, {"k", k}}.dump();
  e.created_ms = UnixNowMs();
  AIMASS_ASSIGN_OR_RETURN(e.id, store_.AddEvaluation(e));
  AIMASS_RETURN_IF_ERROR(EnsurePipeline(*options_.pipelines, EvaluationPipelineOf(app), EvaluateSpec(app), who));
  auto run = options_.pipelines->StartRun(EvaluationPipelineOf(app), json{{"split_at", split}, {"k", k}, {"evaluation", e.id}}, "api", who);
  if (!run.ok()) {
    (void)store_.FinishEvaluation(e.id, "failed", "", run.status().message());
    return run.status();
  }
  AIMASS_RETURN_IF_ERROR(store_.SetEvaluationRun(e.id, run->run.id));
  return GetEvaluation(app, e.id);
}

Status RecommendService::RefreshEvaluation(const EvaluationRow& e) {
  if (e.state != "running" || !options_.pipelines || e.pipeline_run == 0) return Status::Ok();
  auto run = options_.pipelines->GetRun(e.pipeline_run);
  if (!run.ok()) return store_.FinishEvaluation(e.id, "failed", "", run.status().message());
  if (run->run.state == "succeeded") {
    for (const auto& s : run->steps) {
      json outputs = json::parse(s.outputs, nullptr, false);
      if (outputs.is_object() && outputs.contains("evaluation")) {
        json result = outputs["evaluation"];
        if (outputs.contains("run")) result["tracking_run"] = outputs["run"];
        return store_.FinishEvaluation(e.id, "succeeded", result.dump(), "");
      }
    }
    return store_.FinishEvaluation(e.id, "failed", "", "the evaluate step gave no evaluation");
  }
  if (run->run.state == "failed" || run->run.state == "cancelled") {
    return store_.FinishEvaluation(e.id, "failed", "", options_.pipelines->FailureOf(*run));
  }
  return Status::Ok();
}

Result<json> RecommendService::GetEvaluation(const std::string& app, int64_t id) {
  AIMASS_RETURN_IF_ERROR(Find(app).status());
  AIMASS_ASSIGN_OR_RETURN(EvaluationRow e, store_.GetEvaluation(app, id));
  AIMASS_RETURN_IF_ERROR(RefreshEvaluation(e));
  AIMASS_ASSIGN_OR_RETURN(e, store_.GetEvaluation(app, id));
  return EvaluationJson(e);
}

Result<json> RecommendService::ListEvaluations(const std::string& app) {
  AIMASS_RETURN_IF_ERROR(Find(app).status());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Evaluations(app, 100));
  json out = json::array();
  for (auto& e : rows) {
    AIMASS_RETURN_IF_ERROR(RefreshEvaluation(e));
    AIMASS_ASSIGN_OR_RETURN(e, store_.GetEvaluation(app, e.id));
    out.push_back(EvaluationJson(e));
  }
  return json{{"evaluations", out}};
}

Result<json> RecommendService::CreateExperiment(const std::string& app, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_ASSIGN_OR_RETURN(json def, ParseExperiment(body));
  {
    std::lock_guard lock(a->experiments_mu);
    if (!a->experiments.empty()) {
      return Status::Conflict("app '" + app + "' runs experiment '" + a->experiments.front()["name"].get<std::string>() +
                              "': stop it first (a user is in one experiment at a time)");
    }
  }
  ExperimentRow e;
  e.app = app;
  e.name = def["name"];
  e.definition = def.dump();
  e.started_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.PutExperiment(e));
  {
    std::lock_guard lock(a->experiments_mu);
    a->experiments.push_back(def);
  }
  return GetExperiment(app, e.name);
}

Result<json> RecommendService::ListExperiments(const std::string& app) {
  AIMASS_RETURN_IF_ERROR(Find(app).status());
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Experiments(app));
  json out = json::array();
  for (const auto& e : rows) {
    json j = json::parse(e.definition, nullptr, false);
    j["state"] = e.state;
    j["started_at"] = Rfc3339Ms(e.started_ms);
    if (e.stopped_ms) j["stopped_at"] = Rfc3339Ms(e.stopped_ms);
    out.push_back(std::move(j));
  }
  return json{{"experiments", out}};
}

Result<json> RecommendService::GetExperiment(const std::string& app, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetExperiment(app, name));
  if (!row) return Status::NotFound("app '" + app + "' has no experiment '" + name.substr(0, 64) + "'");
  FlushExposures();  // exposures still in memory count too
  return ExperimentResults(app, *a, *row);
}

Result<json> RecommendService::StopExperiment(const std::string& app, const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(auto a, Find(app));
  AIMASS_ASSIGN_OR_RETURN(auto row, store_.GetExperiment(app, name));
  if (!row) return Status::NotFound("app '" + app + "' has no experiment '" + name.substr(0, 64) + "'");
  AIMASS_RETURN_IF_ERROR(store_.StopExperiment(app, name, UnixNowMs()));
  {
    std::lock_guard lock(a->experiments_mu);
    std::erase_if(a->experiments, [&](const json& e) { return e["name"] == name; });
  }
  return GetExperiment(app, name);
}

Result<json> RecommendService::ExperimentResults(const std::string& app, App& a, const ExperimentRow& row) {
  json def = json::parse(row.definition, nullptr, false);
  const int64_t window_ms = static_cast<int64_t>(def["window_hours"].get<double>() * 3'600'000);
  std::set<std::string> clicks, conversions;
  {
    std::shared_lock lock(a.live.mu);
    clicks.insert(a.config.click_types.begin(), a.config.click_types.end());
    conversions.insert(a.config.conversion_types.begin(), a.config.conversion_types.end());
  }
  // Each (user, item)'s click and conversion times since the experiment began.
  std::unordered_map<std::string, std::vector<std::pair<int64_t, int>>> after;  // user\x1fitem → (time, 1 click | 2 conversion)
  AIMASS_RETURN_IF_ERROR(store_.ScanFeedbackSince(app, row.started_ms, [&](const FeedbackRow& f) {
    const int kind = (clicks.count(f.type) ? 1 : 0) | (conversions.count(f.type) ? 2 : 0);
    if (kind) after[f.user + '\x1f' + f.item].emplace_back(f.ts_ms, kind);
    return Status::Ok();
  }));
  struct Tally {
    uint64_t exposures = 0, clicked = 0, converted = 0;
    std::set<std::string> users, converting_users;
  };
  std::map<std::string, Tally> tally;
  // An item shown to a user again is one impression (its first): a click answers them all.
  std::set<std::string> shown;
  AIMASS_RETURN_IF_ERROR(store_.ScanExposures(app, row.name, [&](const ExposureRow& e) {
    if (!shown.insert(e.variant + '\x1f' + e.user + '\x1f' + e.item).second) return Status::Ok();
    Tally& t = tally[e.variant];
    ++t.exposures;
    t.users.insert(e.user);
    int seen = 0;
    if (auto it = after.find(e.user + '\x1f' + e.item); it != after.end()) {
      for (const auto& [ts, kind] : it->second) {
        if (ts >= e.ts_ms && ts <= e.ts_ms + window_ms) seen |= kind;
      }
    }
    if (seen & 1) ++t.clicked;
    if (seen & 2) {
      ++t.converted;
      t.converting_users.insert(e.user);
    }
    return Status::Ok();
  }));
  json variants = json::array();
  const std::string control = def["variants"][0]["name"];
  const Tally& c = tally[control];
  for (const auto& v : def["variants"]) {
    const Tally& t = tally[v["name"].get<std::string>()];
    json j = {{"name", v["name"]}, {"algorithm", v["algorithm"]}, {"weight", v["weight"]}, {"users", t.users.size()},
              {"exposures", t.exposures}, {"clicks", t.clicked}, {"conversions", t.converted},
              {"ctr", t.exposures ? static_cast<double>(t.clicked) / t.exposures : 0.0},
              {"conversion_rate", t.exposures ? static_cast<double>(t.converted) / t.exposures : 0.0}};
    if (v["name"] != control) {
      const ProportionTest ctr = CompareProportions(c.clicked, c.exposures, t.clicked, t.exposures);
      const ProportionTest conv = CompareProportions(c.converted, c.exposures, t.converted, t.exposures);
      j["vs_control"] = {{"ctr_z", ctr.z}, {"ctr_p_value", ctr.p_value}, {"ctr_significant", ctr.p_value < 0.05},
                         {"conversion_z", conv.z}, {"conversion_p_value", conv.p_value},
                         {"conversion_significant", conv.p_value < 0.05}};
    }
    variants.push_back(std::move(j));
  }
  json out = {{"name", row.name}, {"state", row.state}, {"started_at", Rfc3339Ms(row.started_ms)},
              {"window_hours", def["window_hours"]}, {"control", control}, {"variants", variants},
              {"click_types", clicks}, {"conversion_types", conversions}};
  if (row.stopped_ms) out["stopped_at"] = Rfc3339Ms(row.stopped_ms);
  return out;
}

void RecommendService::FlushExposures() {
  std::vector<ExposureRow> exposures;
  {
    std::lock_guard lock(exposures_mu_);
    exposures.swap(exposures_);
  }
  if (!exposures.empty()) {
    Status s = store_.AddExposures(exposures);
    if (!s.ok()) spdlog::warn("recommend: {} exposures not stored: {}", exposures.size(), s.message());
  }
}

void RecommendService::WarmFoldIns(App& a, size_t budget) {
  for (size_t done = 0; done < budget;) {
    std::shared_ptr<LoadedModel> m;
    recsys::UserHistory h;
    uint32_t user = 0;
    uint64_t changes = 0;
    {
      std::shared_lock lock(a.live.mu);
      m = a.live.model;
      if (!m) return;
      if (a.warmed_version != m->version) {
        a.warmed_version = m->version;
        a.warm_next = 0;
      }
      if (a.warm_next >= a.live.user_state.size()) return;
      user = a.warm_next++;
      recsys::UserVectors known;
      if (a.live.user_state[user].items.empty() || a.live.CachedVectors(user, *m, known)) continue;
      h = a.live.HistoryFor(user, *m);
      changes = a.live.user_state[user].changes;
    }
    // Computed outside the lock; stamped with the history's changes, so feedback that arrives
    // meanwhile makes it stale rather than wrong.
    if (!h.items.empty()) a.live.CacheVectors(user, m->version, changes, m->recommender->Vectors(h));
    ++done;
  }
}

void RecommendService::Sweep() {
  FlushExposures();
  std::vector<std::string> names;
  {
    std::lock_guard lock(apps_mu_);
    for (const auto& [name, a] : apps_) names.push_back(name);
  }
  for (const auto& name : names) {
    Status s = RefreshTraining(name);
    if (!s.ok() && s.code() != Code::kNotFound) spdlog::warn("recommend: app {}: {}", name, s.message());
    // A new model's fold-ins computed ahead of the users' requests, a bounded number a tick.
    if (auto a = Find(name); a.ok()) WarmFoldIns(**a, 2000);
    auto evaluations = store_.Evaluations(name, 20);
    if (!evaluations.ok()) continue;
    for (const auto& e : *evaluations) (void)RefreshEvaluation(e);
  }
}

}  // namespace aimass::recommend
