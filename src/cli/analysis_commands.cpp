#include "cli/analysis_commands.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct AnalysisCommands {
  CLI::App *mine = nullptr, *jobs = nullptr, *show = nullptr, *cancel = nullptr, *del = nullptr;
  std::string kind, dataset, version = "latest", params_json, state, id;
  std::vector<std::string> params;
  int64_t limit = 20, timeout_s = 3600;
  bool no_wait = false;
};

namespace {

constexpr const char* kBase = "/api/v1/analysis/mining";

// "k=10", "columns=a,b", "mini_batch=true", "min_support=0.01", "init=random".
Result<json> ParseParams(const std::vector<std::string>& list, const std::string& whole) {
  json out = json::object();
  if (!whole.empty()) {
    AIMASS_ASSIGN_OR_RETURN(out, JsonArgument(whole, "--params"));
    if (!out.is_object()) return Status::BadRequest("--params must be a JSON object");
  }
  for (const auto& p : list) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) return Status::BadRequest("-p takes name=value, not '" + p + "'");
    const std::string name = p.substr(0, eq), value = p.substr(eq + 1);
    if (name == "columns") {
      json cols = json::array();
      for (size_t at = 0; at <= value.size();) {
        const size_t comma = value.find(',', at);
        const std::string c = value.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        if (!c.empty()) cols.push_back(c);
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
      out[name] = cols;
      continue;
    }
    json v = json::parse(value, nullptr, false);
    out[name] = v.is_discarded() || v.is_object() || v.is_array() || v.is_string() ? json(value) : v;
  }
  return out;
}

std::string Items(const json& items, const json& labels) {
  std::string s;
  for (const auto& i : items) {
    const std::string id = i.get<std::string>();
    s += (s.empty() ? "" : ", ") + id;
    if (labels.is_object() && labels.contains(id) && !labels[id].get<std::string>().empty()) s += " (" + labels[id].get<std::string>() + ")";
  }
  return s;
}

void PrintResult(const json& job, int64_t limit) {
  const json& r = job["result"];
  const std::string kind = job["kind"];
  std::cout << "Job " << job["id"] << " (" << kind << " on " << Cell(job["source"], "dataset") << " v" << Cell(job["source"], "version")
            << "): " << Cell(r, "rows") << " rows in " << NumberCell(job.value("duration_ms", json())) << " ms\n";
  std::vector<std::vector<std::string>> rows;
  if (kind == "association_rules") {
    std::cout << Cell(r, "transactions") << " transactions, " << Cell(r, "itemset_count") << " frequent itemsets, " << Cell(r, "rule_count")
              << " rules\n";
    for (const auto& x : r["rules"]) {
      if (static_cast<int64_t>(rows.size()) >= limit) break;
      rows.push_back({Items(x["antecedent"], r.value("labels", json())), Items(x["consequent"], r.value("labels", json())),
                      NumberCell(x["support"]), NumberCell(x["confidence"]), NumberCell(x["lift"])});
    }
    PrintTable({"ANTECEDENT", "CONSEQUENT", "SUPPORT", "CONFIDENCE", "LIFT"}, rows);
  } else if (kind == "sequences") {
    std::cout << Cell(r, "sequences") << " sequences, " << Cell(r, "pattern_count") << " frequent patterns\n";
    for (const auto& x : r["patterns"]) {
      if (static_cast<int64_t>(rows.size()) >= limit) break;
      std::string path;
      for (const auto& i : x["items"]) path += (path.empty() ? "" : " → ") + i.get<std::string>();
      rows.push_back({path, NumberCell(x["count"]), NumberCell(x["support"])});
    }
    PrintTable({"PATTERN", "SEQUENCES", "SUPPORT"}, rows);
  } else if (kind == "outliers") {
    std::cout << Cell(r, "outliers") << " outliers (score ≥ " << NumberCell(r["threshold"]) << ")\n";
    for (const auto& x : r["top"]) {
      if (static_cast<int64_t>(rows.size()) >= limit) break;
      rows.push_back({Cell(x, "row"), x.contains("id") ? Cell(x, "id") : "-", NumberCell(x["score"])});
    }
    PrintTable({"ROW", "ID", "SCORE"}, rows);
  } else {
    if (kind == "kmeans") {
      std::cout << "inertia " << NumberCell(r["inertia"]) << " after " << Cell(r, "iterations") << " iterations";
    } else {
      std::cout << Cell(r, "clusters") << " clusters, " << Cell(r, "noise") << " noise points, " << Cell(r, "core") << " core points";
    }
    std::cout << "; silhouette " << (r["silhouette"].is_null() ? "-" : NumberCell(r["silhouette"])) << "\n";
    for (size_t c = 0; c < r["sizes"].size(); ++c) {
      std::string centre;
      if (r.contains("centroids")) {
        for (const auto& v : r["centroids"][c]) centre += (centre.empty() ? "" : " ") + NumberCell(v);
      }
      rows.push_back({std::to_string(c), NumberCell(r["sizes"][c]), centre.empty() ? "-" : centre});
    }
    PrintTable({"CLUSTER", "SIZE", "CENTRE (" + Join(r["columns"]) + ")"}, rows);
  }
}

}  // namespace

std::shared_ptr<AnalysisCommands> AddAnalysisCommands(CLI::App& app) {
  auto c = std::make_shared<AnalysisCommands>();
  auto* root = app.add_subcommand("analysis", "Data mining jobs on dataset versions: clusters, association rules, sequences, outliers");
  root->require_subcommand(1);
  c->mine = root->add_subcommand("mine", "Start a mining job and wait for its result: association_rules, kmeans, dbscan, sequences, outliers");
  c->mine->add_option("kind", c->kind, "What to mine")->required();
  c->mine->add_option("--dataset", c->dataset, "The dataset")->required();
  c->mine->add_option("--version", c->version, "Its version, alias or latest (default)");
  c->mine->add_option("-p,--param", c->params, "A parameter name=value: k=8, columns=a,b, min_support=0.01 (repeat)");
  c->mine->add_option("--params", c->params_json, "Parameters as a JSON object (or @file)");
  c->mine->add_option("--limit", c->limit, "Rows of the result to print (default 20)");
  c->mine->add_flag("--no-wait", c->no_wait, "Return once the job is queued");
  c->mine->add_option("--timeout", c->timeout_s, "Seconds to wait (default 3600)");
  c->jobs = root->add_subcommand("jobs", "List mining jobs, newest first");
  c->jobs->add_option("--state", c->state, "queued, running, succeeded, failed or cancelled");
  c->jobs->add_option("--kind", c->kind, "Only this kind");
  c->jobs->add_option("--dataset", c->dataset, "Only on this dataset");
  c->jobs->add_option("--limit", c->limit, "Jobs (default 20)");
  c->show = root->add_subcommand("show", "A mining job and its result");
  c->show->add_option("id", c->id, "Job id")->required();
  c->show->add_option("--limit", c->limit, "Rows of the result to print (default 20)");
  c->cancel = root->add_subcommand("cancel", "Cancel a queued or running mining job");
  c->cancel->add_option("id", c->id, "Job id")->required();
  c->del = root->add_subcommand("delete", "Delete a mining job and its result");
  c->del->add_option("id", c->id, "Job id")->required();
  return c;
}

std::optional<int> RunAnalysisCommands(AnalysisCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.id);
  auto show = [&](const json& job) {
    if (as_json) return PrintJson(job, true);
    if (job["state"] != "succeeded") {
      std::cout << "Job " << job["id"] << ": " << Cell(job, "state") << (job.contains("error") ? " (" + Cell(job, "error") + ")" : "") << "\n";
      return job["state"] == "failed" ? kError : kOk;
    }
    PrintResult(job, c.limit);
    return kOk;
  };
  if (c.mine->parsed()) {
    auto params = ParseParams(c.params, c.params_json);
    if (!params.ok()) return Fail(params.status());
    json body = {{"kind", c.kind}, {"source", {{"dataset", c.dataset}, {"version", c.version}}}, {"params", *params}};
    auto res = api.Call(http::Method::kPost, kBase, &body);
    if (!res.ok()) return Fail(res.status());
    if (c.no_wait) return as_json ? PrintJson(*res, true) : (std::cout << "Job " << (*res)["id"] << " queued\n", kOk);
    const std::string path = std::string(kBase) + "/" + std::to_string((*res)["id"].get<int64_t>());
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(c.timeout_s);
    for (;;) {
      res = api.Call(http::Method::kGet, path);
      if (!res.ok()) return Fail(res.status());
      const std::string state = (*res)["state"];
      if (state == "succeeded" || state == "failed" || state == "cancelled") break;
      if (std::chrono::steady_clock::now() > until) return Fail(Status::DeadlineExceeded("the job did not finish in time"));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if ((*res)["state"] == "failed") return Fail(Status::Unprocessable("the job failed: " + Cell(*res, "error")));
    return show(*res);
  }
  if (c.jobs->parsed()) {
    std::string q = std::string(kBase) + "?page_size=" + std::to_string(c.limit);
    if (!c.state.empty()) q += "&state=" + UrlEncode(c.state);
    if (!c.kind.empty()) q += "&kind=" + UrlEncode(c.kind);
    if (!c.dataset.empty()) q += "&dataset=" + UrlEncode(c.dataset);
    auto res = api.Call(http::Method::kGet, q);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["jobs"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& j : (*res)["jobs"]) {
      rows.push_back({Cell(j, "id"), Cell(j, "kind"), Cell(j["source"], "dataset") + " v" + Cell(j["source"], "version"), Cell(j, "state"),
                      Cell(j, "created_at"), j.contains("duration_ms") ? NumberCell(j["duration_ms"]) + " ms" : "-"});
    }
    PrintTable({"ID", "KIND", "SOURCE", "STATE", "CREATED", "TOOK"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    return show(*res);
  }
  if (c.cancel->parsed()) {
    auto res = api.Call(http::Method::kPost, one + "/cancel");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Job " << c.id << " cancelled\n";
    return kOk;
  }
  if (c.del->parsed()) {
    auto res = api.Call(http::Method::kDelete, one);
    if (!res.ok()) return Fail(res.status());
    if (!as_json) std::cout << "Job " << c.id << " deleted\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
