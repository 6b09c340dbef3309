#include "steps/train_recommend.hpp"

#include <charconv>
#include <iostream>

#include "common/time.hpp"
#include "recsys/evaluation.hpp"
#include "recsys/model.hpp"
#include "recsys/trainer.hpp"

namespace aimass::steps {

using nlohmann::json;

namespace {

void Say(const std::string& line) { std::cout << line << "\n" << std::flush; }

// The app's configuration and its feedback (GET …/feedback/export, tab-separated).
struct AppData {
  json app;
  recsys::EventLog log;
};

Result<AppData> ReadApp(StepContext& ctx, const std::string& app) {
  AppData d;
  AIMASS_ASSIGN_OR_RETURN(d.app, ctx.Call(http::Method::kGet, "/api/v1/recommend/apps/" + app));
  AIMASS_ASSIGN_OR_RETURN(http::ClientResponse r, ctx.Send(http::Method::kGet, "/api/v1/recommend/apps/" + app + "/feedback/export", "", {}));
  if (r.status != 200) return Status::Internal("the feedback export answered " + std::to_string(r.status));
  std::string_view rest = r.body;
  size_t line_no = 0;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    std::string_view f[5];
    size_t k = 0;
    for (; k < 5; ++k) {
      const size_t tab = line.find('\t');
      f[k] = line.substr(0, tab);
      if (tab == std::string_view::npos) break;
      line = line.substr(tab + 1);
    }
    if (k < 4) return Status::Internal("feedback export line " + std::to_string(line_no) + " has too few fields");
    double weight = 0;
    int64_t ts = 0;
    auto [pw, ew] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), weight);
    auto [pt, et] = std::from_chars(f[3].data(), f[3].data() + f[3].size(), ts);
    if (ew != std::errc() || et != std::errc()) return Status::Internal("feedback export line " + std::to_string(line_no) + " is malformed");
    d.log.Add(std::string(f[0]), std::string(f[1]), static_cast<float>(weight), ts, std::string(f[4]));
  }
  Say("read " + std::to_string(d.log.events.size()) + " pieces of feedback: " + std::to_string(d.log.users.size()) + " users, " +
      std::to_string(d.log.items.size()) + " items");
  return d;
}

// The app's training options over the defaults.
recsys::TrainOptions OptionsOf(const json& app) {
  recsys::TrainOptions o;
  o.threads = JobThreads();
  o.exclude_consumed = app.value("exclude_consumed", true);
  const json t = app.contains("training") && app["training"].is_object() ? app["training"] : json::object();
  o.als.factors = o.bpr.factors = t.value("factors", o.als.factors);
  o.als.iterations = t.value("iterations", o.als.iterations);
  o.als.regularization = t.value("regularization", o.als.regularization);
  o.als.alpha = t.value("alpha", o.als.alpha);
  o.als.cg_steps = t.value("cg_steps", o.als.cg_steps);
  o.bpr.epochs = t.value("bpr_epochs", o.bpr.epochs);
  o.bpr.learning_rate = t.value("bpr_learning_rate", o.bpr.learning_rate);
  o.bpr.regularization = t.value("bpr_regularization", o.bpr.regularization);
  o.knn_neighbours = t.value("neighbours", o.knn_neighbours);
  o.knn_shrink = t.value("shrink", o.knn_shrink);
  o.cooc_window = t.value("session_window", o.cooc_window);
  o.session_gap_ms = t.value("session_gap_minutes", int64_t{30}) * 60'000;
  o.recent_days = t.value("recent_days", o.recent_days);
  o.ranker_days = t.value("ranker_days", o.ranker_days);
  o.ranker.rounds = t.value("ranker_rounds", o.ranker.rounds);
  o.ranker.max_depth = t.value("ranker_depth", o.ranker.max_depth);
  o.candidates = t.value("candidates", o.candidates);
  o.train_ranker = t.value("ranker", true);
  return o;
}

json Params(const recsys::TrainOptions& o, const std::string& app, const recsys::EventLog& log) {
  return {{"app", app}, {"events", log.events.size()}, {"users", log.users.size()}, {"items", log.items.size()},
          {"factors", o.als.factors}, {"iterations", o.als.iterations}, {"regularization", o.als.regularization},
          {"alpha", o.als.alpha}, {"cg_steps", o.als.cg_steps}, {"bpr_epochs", o.bpr.epochs}, {"neighbours", o.knn_neighbours},
          {"ranker", o.train_ranker}, {"ranker_days", o.ranker_days}, {"exclude_consumed", o.exclude_consumed},
          {"threads", o.threads}};
}

}  // namespace

Status TrainRecommend(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(std::string app, InputString(in, "app"));
  AIMASS_ASSIGN_OR_RETURN(AppData d, ReadApp(ctx, app));
  const recsys::TrainOptions o = OptionsOf(d.app);
  const std::string experiment = InputString(in, "experiment", ctx.pipeline().empty() ? "recommend-" + app : ctx.pipeline());
  AIMASS_ASSIGN_OR_RETURN(int64_t run, ctx.StartTrackingRun(experiment, Params(o, app, d.log)));
  AIMASS_ASSIGN_OR_RETURN(recsys::Model model, recsys::Train(d.log.events, d.log.users.size(), d.log.items.Names(), o, Say));
  json metrics = {{"train_seconds", model.info["train_seconds"]}};
  for (auto it = model.info["seconds"].begin(); it != model.info["seconds"].end(); ++it) metrics[it.key() + "_seconds"] = it.value();
  if (model.info["ranker"].is_object()) metrics["ranker_seconds"] = model.info["ranker"]["seconds"];
  json points = json::array();
  for (auto it = metrics.begin(); it != metrics.end(); ++it) points.push_back({{"key", it.key()}, {"value", it.value()}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"metrics", points}}));
  json signature = {{"inputs", json::array({{{"name", "user"}, {"datatype", "BYTES"}, {"shape", {-1}}}})},
                    {"outputs", json::array({{{"name", "items"}, {"datatype", "BYTES"}, {"shape", {-1, -1}}},
                                             {{"name", "scores"}, {"datatype", "FP32"}, {"shape", {-1, -1}}}})}};
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/model.rec", recsys::SerializeModel(model), "application/octet-stream"));
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "model/signature.json", signature.dump(2), "application/json"));
  AIMASS_RETURN_IF_ERROR(ctx.FinishTrackingRun(run));
  Say("model: " + std::to_string(model.size()) + " items, ranker " + (model.ranker.empty() ? "not trained" : "trained"));
  ctx.Output("run", run);
  ctx.Output("artifact", "model/model.rec");
  ctx.Output("framework", "recommend");
  ctx.Output("signature", signature);
  ctx.Output("metrics", metrics);
  return Status::Ok();
}

Status EvaluateRecommend(StepContext& ctx) {
  const json& in = ctx.inputs();
  AIMASS_ASSIGN_OR_RETURN(std::string app, InputString(in, "app"));
  AIMASS_ASSIGN_OR_RETURN(std::string split, InputString(in, "split_at"));
  const auto split_ms = ParseRfc3339Ms(split);
  if (!split_ms) return Status::BadRequest("split_at is an RFC 3339 time");
  AIMASS_ASSIGN_OR_RETURN(int64_t k, InputCount(in, "k", 10, 1, 100));
  AIMASS_ASSIGN_OR_RETURN(AppData d, ReadApp(ctx, app));
  recsys::EvaluationOptions o;
  o.split_ms = *split_ms;
  o.k = static_cast<size_t>(k);
  o.train = OptionsOf(d.app);
  json params = Params(o.train, app, d.log);
  params["split_at"] = split;
  params["k"] = k;
  const std::string experiment = InputString(in, "experiment", "recommend-" + app + "-evaluation");
  AIMASS_ASSIGN_OR_RETURN(int64_t run, ctx.StartTrackingRun(experiment, params));
  AIMASS_ASSIGN_OR_RETURN(json table, recsys::EvaluateTimeSplit(d.log.events, d.log.users.size(), d.log.items.Names(), o, Say));
  // Every algorithm's metrics as <algorithm>/<metric>_at_<k> on the run, so runs compare in tracking.
  json points = json::array();
  const std::string at = "_at_" + std::to_string(k);
  for (const auto& row : table["algorithms"]) {
    const std::string name = row["name"];
    for (const char* m : {"precision", "recall", "ndcg", "map", "hit_rate"}) points.push_back({{"key", name + "/" + m + at}, {"value", row[m]}});
    points.push_back({{"key", name + "/coverage"}, {"value", row["coverage"]}});
  }
  if (table["best_ndcg_over_baseline"].is_number()) points.push_back({{"key", "best_ndcg_over_baseline"}, {"value", table["best_ndcg_over_baseline"]}});
  AIMASS_RETURN_IF_ERROR(ctx.LogToRun(run, {{"metrics", points}}));
  AIMASS_RETURN_IF_ERROR(ctx.PutArtifact(run, "evaluation.json", table.dump(2), "application/json"));
  AIMASS_RETURN_IF_ERROR(ctx.FinishTrackingRun(run));
  table["split_at"] = split;
  ctx.Output("run", run);
  ctx.Output("evaluation", table);
  return Status::Ok();
}

}  // namespace aimass::steps
