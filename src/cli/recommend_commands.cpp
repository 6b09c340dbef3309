#include "cli/recommend_commands.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"

namespace aimass::cli {

using nlohmann::json;

struct RecommendCommands {
  CLI::App *create = nullptr, *list = nullptr, *show = nullptr, *items = nullptr, *feedback = nullptr, *train = nullptr,
           *for_user = nullptr, *similar = nullptr, *next = nullptr, *evaluate = nullptr, *exp_start = nullptr,
           *exp_show = nullptr, *exp_stop = nullptr;
  std::string app, file, user, item, session, algorithm, category, split_at, name;
  int64_t n = 10, k = 10, test_days = 0, timeout_s = 1800;
  bool no_wait = false;
};

namespace {

constexpr const char* kBase = "/api/v1/recommend/apps";
constexpr size_t kBatch = 10000;

std::string Fixed(const json& v, int digits = 4) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v.get<double>());
  return buf;
}

// A file of JSON lines, or one JSON array, as a list of objects.
Result<std::vector<json>> Records(const std::string& text) {
  std::vector<json> out;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    json all = json::parse(text, nullptr, false);
    if (!all.is_array()) return Status::BadRequest("the file is not a JSON array");
    for (auto& r : all) out.push_back(std::move(r));
    return out;
  }
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) return Status::BadRequest("line " + std::to_string(n) + " is not a JSON object");
    out.push_back(std::move(j));
  }
  return out;
}

void PrintAnswer(const json& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : r["items"]) {
    std::string cats;
    for (const auto& c : i.value("categories", json::array())) cats += (cats.empty() ? "" : ",") + c.get<std::string>();
    rows.push_back({Cell(i, "id"), i.value("title", ""), cats, Fixed(i["score"]), i.contains("reason") ? Cell(i["reason"], "text") : ""});
  }
  PrintTable({"ITEM", "TITLE", "CATEGORIES", "SCORE", "WHY"}, rows);
}

void PrintEvaluation(const json& e) {
  const json& r = e["result"];
  const std::string at = "@" + Cell(r, "k");
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : r["algorithms"]) {
    rows.push_back({Cell(a, "name") + (a["name"] == r["best"] ? " (best)" : ""), Fixed(a["precision"]), Fixed(a["recall"]),
                    Fixed(a["ndcg"]), Fixed(a["map"]), Fixed(a["hit_rate"]), Fixed(a["coverage"])});
  }
  PrintTable({"ALGORITHM", "PRECISION" + at, "RECALL" + at, "NDCG" + at, "MAP" + at, "HIT RATE", "COVERAGE"}, rows);
  std::cout << "split at " << Cell(r, "split_at") << ": " << Cell(r, "train_events") << " events before, " << Cell(r, "test_users")
            << " users after; best NDCG " << Fixed(r["best_ndcg_over_baseline"], 2) << "x the popularity baseline\n";
}

}  // namespace

std::shared_ptr<RecommendCommands> AddRecommendCommands(CLI::App& app) {
  auto c = std::make_shared<RecommendCommands>();
  auto* root = app.add_subcommand("recommend", "Recommender apps: catalogue, feedback, training, recommendations, evaluation, A/B tests");
  root->require_subcommand(1);
  c->create = root->add_subcommand("create", "Create an app from a JSON file {name, feedback_types, …}");
  c->create->add_option("file", c->file, "The app (JSON), or - for stdin")->required();
  c->list = root->add_subcommand("list", "List the apps");
  c->show = root->add_subcommand("show", "Show an app: configuration, counts, state, model");
  c->show->add_option("app", c->app, "App name")->required();
  c->items = root->add_subcommand("items", "Add or replace items from a file (JSON lines or a JSON array of {id, categories, …})");
  c->items->add_option("app", c->app, "App name")->required();
  c->items->add_option("file", c->file, "The items, or - for stdin")->required();
  c->feedback = root->add_subcommand("feedback", "Send feedback from a file (JSON lines or a JSON array of {user, item, type, …})");
  c->feedback->add_option("app", c->app, "App name")->required();
  c->feedback->add_option("file", c->file, "The feedback, or - for stdin")->required();
  c->train = root->add_subcommand("train", "Train the app's model and wait for it to serve");
  c->train->add_option("app", c->app, "App name")->required();
  c->train->add_flag("--no-wait", c->no_wait, "Start the training and return");
  c->train->add_option("--timeout", c->timeout_s, "Seconds to wait (default 1800)");
  c->for_user = root->add_subcommand("for", "Recommendations for a user, with the reason for each");
  c->for_user->add_option("app", c->app, "App name")->required();
  c->for_user->add_option("user", c->user, "User id")->required();
  c->for_user->add_option("-n", c->n, "How many (default 10)");
  c->for_user->add_option("--algorithm", c->algorithm, "popular, recent, history, item_knn, als, bpr, session or ranker");
  c->for_user->add_option("--category", c->category, "Only items of this category");
  c->similar = root->add_subcommand("similar", "Items similar to an item");
  c->similar->add_option("app", c->app, "App name")->required();
  c->similar->add_option("item", c->item, "Item id")->required();
  c->similar->add_option("-n", c->n, "How many (default 10)");
  c->next = root->add_subcommand("next", "What comes next in a session");
  c->next->add_option("app", c->app, "App name")->required();
  c->next->add_option("session", c->session, "Session id")->required();
  c->next->add_option("-n", c->n, "How many (default 10)");
  c->evaluate = root->add_subcommand("evaluate", "Evaluate every algorithm offline with a time split, and wait for the table");
  c->evaluate->add_option("app", c->app, "App name")->required();
  c->evaluate->add_option("--split-at", c->split_at, "RFC 3339 time: feedback before it trains, after it is the truth");
  c->evaluate->add_option("--test-days", c->test_days, "Or: the last N days are the truth (default 30)");
  c->evaluate->add_option("-k", c->k, "Metrics at k (default 10)");
  c->evaluate->add_option("--timeout", c->timeout_s, "Seconds to wait (default 1800)");
  auto* exp = root->add_subcommand("experiment", "A/B experiments");
  exp->require_subcommand(1);
  c->exp_start = exp->add_subcommand("start", "Start an experiment from a JSON file {name, variants: [{name, algorithm, weight}]}");
  c->exp_start->add_option("app", c->app, "App name")->required();
  c->exp_start->add_option("file", c->file, "The experiment, or - for stdin")->required();
  c->exp_show = exp->add_subcommand("show", "An experiment's results per variant");
  c->exp_show->add_option("app", c->app, "App name")->required();
  c->exp_show->add_option("name", c->name, "Experiment name")->required();
  c->exp_stop = exp->add_subcommand("stop", "Stop an experiment");
  c->exp_stop->add_option("app", c->app, "App name")->required();
  c->exp_stop->add_option("name", c->name, "Experiment name")->required();
  return c;
}

std::optional<int> RunRecommendCommands(RecommendCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.app);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  auto read_json = [&](const std::string& file) -> Result<json> {
    AIMASS_ASSIGN_OR_RETURN(std::string text, ReadFileOrStdin(file));
    json j = json::parse(text, nullptr, false);
    if (!j.is_object()) return Status::BadRequest(file + " is not a JSON object");
    return j;
  };
  // Sends records in batches; prints how many went.
  auto upload = [&](const std::string& path, const char* key) -> int {
    auto text = ReadFileOrStdin(c.file);
    if (!text.ok()) return Fail(text.status());
    auto records = Records(*text);
    if (!records.ok()) return Fail(records.status());
    size_t sent = 0;
    for (size_t at = 0; at < records->size(); at += kBatch) {
      json body = {{key, json(std::vector<json>(records->begin() + at, records->begin() + std::min(records->size(), at + kBatch)))}};
      auto res = api.Call(http::Method::kPost, path, &body);
      if (!res.ok()) return Fail(Status(res.status().code(), "records " + std::to_string(at + 1) + "-: " + res.status().message()));
      sent += body[key].size();
    }
    if (as_json) return print(json{{key, sent}});
    std::cout << sent << " " << key << " sent to " << c.app << "\n";
    return kOk;
  };
  auto wait = [&](const std::string& path, const std::function<bool(const json&)>& done) -> Result<json> {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(c.timeout_s);
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(json j, api.Call(http::Method::kGet, path));
      if (done(j)) return j;
      if (std::chrono::steady_clock::now() > until) return Status::DeadlineExceeded("it did not end in time");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  };

  if (c.create->parsed()) {
    auto body = read_json(c.file);
    if (!body.ok()) return Fail(body.status());
    auto res = api.Call(http::Method::kPost, kBase, &*body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "App " << Cell(*res, "name") << " created\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, kBase);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["apps"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : (*res)["apps"]) {
      rows.push_back({Cell(a, "name"), Cell(a, "state"), Cell(a["counts"], "items"), Cell(a["counts"], "users"),
                      Cell(a["counts"], "feedback"), Cell(a, "model_version"), Cell(a, "algorithm")});
    }
    PrintTable({"NAME", "STATE", "ITEMS", "USERS", "FEEDBACK", "MODEL", "ALGORITHM"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    return print(*res);
  }
  if (c.items->parsed()) return upload(one + "/items", "items");
  if (c.feedback->parsed()) return upload(one + "/feedback", "feedback");
  if (c.train->parsed()) {
    auto res = api.Call(http::Method::kPost, one + "/train");
    if (!res.ok()) return Fail(res.status());
    if (c.no_wait) {
      if (as_json) return print(*res);
      std::cout << "Training app " << c.app << " (pipeline run " << Cell(*res, "pipeline_run") << ")\n";
      return kOk;
    }
    auto done = wait(one, [](const json& a) { return a["state"] != "training"; });
    if (!done.ok()) return Fail(done.status());
    if ((*done)["state"] == "failed") return Fail(Status::Unprocessable("training failed: " + Cell(*done, "error")));
    if (as_json) return print(*done);
    std::cout << "App " << c.app << " serves model version " << Cell(*done, "model_version") << " (" << Cell((*done)["trained"], "items")
              << " items, trained in " << Fixed((*done)["trained"]["info"]["train_seconds"], 1) << " s)\n";
    return kOk;
  }
  if (c.for_user->parsed() || c.similar->parsed() || c.next->parsed()) {
    std::string path = c.for_user->parsed() ? one + "/users/" + UrlEncode(c.user) + "/recommendations"
                       : c.similar->parsed() ? one + "/items/" + UrlEncode(c.item) + "/similar"
                                             : one + "/sessions/" + UrlEncode(c.session) + "/next";
    path += "?n=" + std::to_string(c.n);
    if (!c.algorithm.empty()) path += "&algorithm=" + UrlEncode(c.algorithm);
    if (!c.category.empty()) path += "&category=" + UrlEncode(c.category);
    auto res = api.Call(http::Method::kGet, path);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    PrintAnswer(*res);
    if (res->contains("algorithm")) std::cout << "by " << Cell(*res, "algorithm") << ", model version " << Cell(*res, "model_version") << "\n";
    return kOk;
  }
  if (c.evaluate->parsed()) {
    json body = {{"k", c.k}};
    if (!c.split_at.empty()) body["split_at"] = c.split_at;
    if (c.test_days > 0) body["test_days"] = c.test_days;
    auto res = api.Call(http::Method::kPost, one + "/evaluate", &body);
    if (!res.ok()) return Fail(res.status());
    auto done = wait(one + "/evaluations/" + Cell(*res, "id"), [](const json& e) { return e["state"] != "running"; });
    if (!done.ok()) return Fail(done.status());
    if ((*done)["state"] == "failed") return Fail(Status::Unprocessable("the evaluation failed: " + Cell(*done, "error")));
    if (as_json) return print(*done);
    PrintEvaluation(*done);
    return kOk;
  }
  if (c.exp_start->parsed() || c.exp_show->parsed() || c.exp_stop->parsed()) {
    Result<json> res = Status::Internal("");
    if (c.exp_start->parsed()) {
      auto body = read_json(c.file);
      if (!body.ok()) return Fail(body.status());
      res = api.Call(http::Method::kPost, one + "/experiments", &*body);
    } else if (c.exp_show->parsed()) {
      res = api.Call(http::Method::kGet, one + "/experiments/" + UrlEncode(c.name));
    } else {
      res = api.Call(http::Method::kPost, one + "/experiments/" + UrlEncode(c.name) + "/stop");
    }
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : (*res)["variants"]) {
      const json vs = v.value("vs_control", json::object());
      rows.push_back({Cell(v, "name"), Cell(v, "algorithm"), Cell(v, "users"), Cell(v, "exposures"), Fixed(v["ctr"]),
                      Fixed(v["conversion_rate"]), vs.contains("ctr_p_value") ? Fixed(vs["ctr_p_value"]) : "(control)"});
    }
    std::cout << "Experiment " << Cell(*res, "name") << ": " << Cell(*res, "state") << " since " << Cell(*res, "started_at") << "\n";
    PrintTable({"VARIANT", "ALGORITHM", "USERS", "IMPRESSIONS", "CTR", "CONVERSION", "P (CTR)"}, rows);
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
