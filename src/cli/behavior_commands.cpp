#include "cli/behavior_commands.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <iostream>
#include <sstream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct BehaviorCommands {
  CLI::App *projects = nullptr, *create = nullptr, *show = nullptr, *del = nullptr, *capture = nullptr, *import = nullptr,
           *insight = nullptr, *person = nullptr, *alias = nullptr, *cohorts = nullptr, *cohort = nullptr, *churn = nullptr;
  std::string project, name, description, topic, file, kind, query, id, alias_id, dataset, version = "latest", event, event_column,
      distinct_id, timestamp, label_property, date_to;
  std::vector<std::string> properties;
  int64_t batch = 1000, timeout_s = 900;
  bool no_wait = false;
};

namespace {

constexpr const char* kBase = "/api/v1/behavior";

std::string ProjectPath(const std::string& project) { return std::string(kBase) + "/" + UrlEncode(project); }

// The events of a file: JSON lines (one event per line), or one JSON document (an event, a list
// or {"batch": […]}).
Result<std::vector<json>> ReadEvents(const std::string& text) {
  json whole = json::parse(text, nullptr, false);
  if (!whole.is_discarded()) {
    if (whole.is_array()) return std::vector<json>(whole.begin(), whole.end());
    if (whole.is_object() && whole.contains("batch") && whole["batch"].is_array()) return std::vector<json>(whole["batch"].begin(), whole["batch"].end());
    if (whole.is_object()) return std::vector<json>{whole};
  }
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json e = json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object()) return Status::BadRequest("line " + std::to_string(n) + " is not a JSON object");
    out.push_back(std::move(e));
  }
  return out;
}

void PrintInsight(const std::string& kind, const json& r) {
  std::vector<std::vector<std::string>> rows;
  if (kind == "trends") {
    std::vector<std::string> header{"INTERVAL"};
    for (const auto& s : r["series"]) {
      std::string h = Cell(s, "label") + " (" + Cell(s, "math") + ")";
      if (s.contains("breakdown_value")) h += " " + Cell(s, "breakdown_value");
      header.push_back(h);
    }
    for (size_t i = 0; i < r["intervals"].size(); ++i) {
      std::vector<std::string> row{r["intervals"][i].get<std::string>()};
      for (const auto& s : r["series"]) row.push_back(NumberCell(s["data"][i]));
      rows.push_back(std::move(row));
    }
    std::vector<std::string> total{"total"};
    for (const auto& s : r["series"]) total.push_back(NumberCell(s["total"]));
    rows.push_back(std::move(total));
    PrintTable(header, rows);
  } else if (kind == "funnels") {
    for (const auto& s : r["steps"]) {
      rows.push_back({NumberCell(s["order"]), Cell(s, "label"), NumberCell(s["count"]), NumberCell(std::round(s["conversion_rate"].get<double>() * 1000) / 10) + "%",
                      NumberCell(s["drop_off"]), NumberCell(s["median_conversion_time"])});
    }
    PrintTable({"STEP", "EVENT", "PERSONS", "CONVERSION", "DROP-OFF", "MEDIAN SECONDS"}, rows);
  } else if (kind == "retention") {
    size_t periods = 0;
    for (const auto& c : r["cohorts"]) periods = std::max(periods, c["counts"].size());
    std::vector<std::string> header{"COHORT", "SIZE"};
    for (size_t i = 1; i < periods; ++i) header.push_back("+" + std::to_string(i));
    for (const auto& c : r["cohorts"]) {
      std::vector<std::string> row{Cell(c, "start"), NumberCell(c["size"])};
      const double size = c["size"];
      for (size_t i = 1; i < c["counts"].size(); ++i) {
        const double n = c["counts"][i];
        row.push_back(size > 0 ? NumberCell(std::round(n / size * 1000) / 10) + "%" : "-");
      }
      rows.push_back(std::move(row));
    }
    PrintTable(header, rows);
  } else if (kind == "lifecycle") {
    for (const auto& x : r["intervals"]) {
      rows.push_back({Cell(x, "start"), NumberCell(x["new"]), NumberCell(x["returning"]), NumberCell(x["resurrecting"]), NumberCell(x["dormant"])});
    }
    PrintTable({"INTERVAL", "NEW", "RETURNING", "RESURRECTING", "DORMANT"}, rows);
  } else if (kind == "stickiness") {
    for (const auto& s : r["series"]) {
      for (const auto& d : s["data"]) rows.push_back({Cell(s, "label"), NumberCell(d["intervals"]), NumberCell(d["persons"])});
    }
    PrintTable({"SERIES", "INTERVALS", "PERSONS"}, rows);
  } else if (kind == "paths") {
    for (const auto& p : r["paths"]) {
      std::string nodes;
      for (const auto& n : p["nodes"]) nodes += (nodes.empty() ? "" : " > ") + n.get<std::string>();
      rows.push_back({NumberCell(p["persons"]), nodes});
    }
    PrintTable({"PERSONS", "PATH"}, rows);
  } else if (kind == "rfm") {
    for (const auto& [segment, n] : r["segments"].items()) rows.push_back({segment, NumberCell(n)});
    PrintTable({"SEGMENT", "PERSONS"}, rows);
  } else if (kind == "lifetime") {
    for (const char* k : {"r", "alpha", "a", "b"}) rows.push_back({std::string("bgnbd.") + k, NumberCell(r["bgnbd"][k])});
    if (r.contains("gamma_gamma")) {
      for (const char* k : {"p", "q", "v"}) rows.push_back({std::string("gamma_gamma.") + k, NumberCell(r["gamma_gamma"][k])});
    }
    PrintTable({"PARAMETER", "VALUE"}, rows);
  } else {
    PrintJson(r, false);
    return;
  }
  std::cout << NumberCell(r.value("took_ms", json())) << " ms\n";
}

}  // namespace

std::shared_ptr<BehaviorCommands> AddBehaviorCommands(CLI::App& app) {
  auto c = std::make_shared<BehaviorCommands>();
  auto* root = app.add_subcommand("behavior", "Product analytics: projects, capture, imports, insights, persons, cohorts");
  root->require_subcommand(1);
  c->projects = root->add_subcommand("projects", "List the projects with their events and persons");
  c->create = root->add_subcommand("create", "Create a project");
  c->create->add_option("project", c->project, "Project name")->required();
  c->create->add_option("--description", c->description, "What it is for");
  c->create->add_option("--topic", c->topic, "A message-queue topic whose messages it captures");
  c->show = root->add_subcommand("show", "Show a project and its statistics");
  c->show->add_option("project", c->project, "Project name")->required();
  c->del = root->add_subcommand("delete", "Delete a project with its events, persons, cohorts and insights");
  c->del->add_option("project", c->project, "Project name")->required();
  c->capture = root->add_subcommand("capture", "Capture the events of a file (JSON lines, a list or {batch: […]}; - for stdin)");
  c->capture->add_option("project", c->project, "Project name")->required();
  c->capture->add_option("file", c->file, "The events")->required();
  c->capture->add_option("--batch", c->batch, "Events per request (default 1000)")->check(CLI::Range(1, 100000));
  c->import = root->add_subcommand("import", "Capture a dataset version's rows as events");
  c->import->add_option("project", c->project, "Project name")->required();
  c->import->add_option("--dataset", c->dataset, "The dataset")->required();
  c->import->add_option("--version", c->version, "Its version, alias or latest (default)");
  c->import->add_option("--event", c->event, "One event name for every row");
  c->import->add_option("--event-column", c->event_column, "The column holding each row's event name");
  c->import->add_option("--distinct-id", c->distinct_id, "The column holding the person")->required();
  c->import->add_option("--timestamp", c->timestamp, "The column holding the time")->required();
  c->import->add_option("-p,--property", c->properties, "NAME=COLUMN or NAME=EXPRESSION, e.g. 'amount=Quantity * UnitPrice' (repeat)");
  c->insight = root->add_subcommand("insight", "Run an insight: trends, funnels, retention, lifecycle, stickiness, paths, rfm, lifetime");
  c->insight->add_option("project", c->project, "Project name")->required();
  c->insight->add_option("kind", c->kind, "The kind of insight")->required();
  c->insight->add_option("query", c->query, "The request as JSON, or @file")->required();
  c->person = root->add_subcommand("person", "A person by any of their ids: ids, properties, first and last seen");
  c->person->add_option("project", c->project, "Project name")->required();
  c->person->add_option("distinct_id", c->id, "A distinct id")->required();
  c->alias = root->add_subcommand("alias", "Merge the person of ALIAS into the person of DISTINCT_ID");
  c->alias->add_option("project", c->project, "Project name")->required();
  c->alias->add_option("distinct_id", c->id, "The known id")->required();
  c->alias->add_option("alias", c->alias_id, "The id to merge into it")->required();
  c->cohorts = root->add_subcommand("cohorts", "List a project's cohorts");
  c->cohorts->add_option("project", c->project, "Project name")->required();
  c->cohort = root->add_subcommand("cohort", "Save a cohort from a JSON file {name, distinct_ids | criteria} and print its size");
  c->cohort->add_option("project", c->project, "Project name")->required();
  c->cohort->add_option("file", c->file, "The cohort (JSON), or - for stdin")->required();
  c->churn = root->add_subcommand("churn", "Train the churn model (with --label-property) and wait until every person is scored, or show it");
  c->churn->add_option("project", c->project, "Project name")->required();
  c->churn->add_option("--label-property", c->label_property, "The person property saying who churned (true/false): train");
  c->churn->add_option("--date-to", c->date_to, "The features' cut-off (default now)");
  c->churn->add_flag("--no-wait", c->no_wait, "Return while it trains");
  c->churn->add_option("--timeout", c->timeout_s, "Seconds to wait (default 900)");
  return c;
}

std::optional<int> RunBehaviorCommands(BehaviorCommands& c, ApiClient& api, bool as_json) {
  const std::string base = ProjectPath(c.project);
  auto call = [&](http::Method m, const std::string& path, const json* body = nullptr) -> std::optional<int> {
    auto res = api.Call(m, path, body);
    if (!res.ok()) return Fail(res.status());
    return PrintJson(*res, as_json);
  };
  if (c.projects->parsed()) {
    auto res = api.Call(http::Method::kGet, std::string(kBase) + "/projects");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["projects"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : (*res)["projects"]) {
      const json& s = p.value("stats", json::object());
      rows.push_back({Cell(p, "name"), NumberCell(s.value("events", json())), NumberCell(s.value("distinct_ids", json())), Cell(p, "topic"), Cell(p, "description")});
    }
    PrintTable({"NAME", "EVENTS", "DISTINCT IDS", "TOPIC", "DESCRIPTION"}, rows);
    return kOk;
  }
  if (c.create->parsed()) {
    json body = {{"name", c.project}, {"description", c.description}};
    if (!c.topic.empty()) body["topic"] = c.topic;
    return call(http::Method::kPost, std::string(kBase) + "/projects", &body);
  }
  if (c.show->parsed()) return call(http::Method::kGet, std::string(kBase) + "/projects/" + UrlEncode(c.project));
  if (c.del->parsed()) {
    auto res = api.Call(http::Method::kDelete, std::string(kBase) + "/projects/" + UrlEncode(c.project));
    if (!res.ok()) return Fail(res.status());
    if (!as_json) std::cout << "Project " << c.project << " deleted\n";
    return kOk;
  }
  if (c.capture->parsed()) {
    auto text = ReadFileOrStdin(c.file);
    if (!text.ok()) return Fail(text.status());
    auto events = ReadEvents(*text);
    if (!events.ok()) return Fail(events.status());
    uint64_t stored = 0, duplicates = 0;
    for (size_t i = 0; i < events->size(); i += static_cast<size_t>(c.batch)) {
      json batch = json::array();
      for (size_t k = i; k < std::min(events->size(), i + static_cast<size_t>(c.batch)); ++k) batch.push_back((*events)[k]);
      json body = {{"batch", batch}};
      auto res = api.Call(http::Method::kPost, base + "/capture", &body);
      if (!res.ok()) {
        std::cerr << stored << " events stored before the failure (events " << i + 1 << "-" << i + batch.size() << ")\n";
        return Fail(res.status());
      }
      stored += (*res)["stored"].get<uint64_t>();
      duplicates += (*res)["duplicates"].get<uint64_t>();
    }
    if (as_json) return PrintJson({{"received", events->size()}, {"stored", stored}, {"duplicates", duplicates}}, true);
    std::cout << stored << " events stored, " << duplicates << " duplicates skipped\n";
    return kOk;
  }
  if (c.import->parsed()) {
    json body = {{"dataset", c.dataset}, {"version", c.version}, {"distinct_id", c.distinct_id}, {"timestamp", c.timestamp}};
    if (!c.event_column.empty()) body["event_column"] = c.event_column;
    else if (!c.event.empty()) body["event"] = c.event;
    else return Fail(Status::BadRequest("--event or --event-column is required"));
    json props = json::object();
    for (const auto& p : c.properties) {
      const size_t eq = p.find('=');
      if (eq == std::string::npos || eq == 0) return Fail(Status::BadRequest("a property is NAME=COLUMN or NAME=EXPRESSION"));
      props[p.substr(0, eq)] = p.substr(eq + 1);
    }
    body["properties"] = props;
    auto res = api.Call(http::Method::kPost, base + "/import", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << NumberCell((*res)["stored"]) << " events stored from " << Cell(*res, "dataset") << " version " << NumberCell((*res)["version"])
              << ", " << NumberCell((*res)["skipped"]) << " rows skipped\n";
    return kOk;
  }
  if (c.insight->parsed()) {
    auto q = JsonArgument(c.query, "query");
    if (!q.ok()) return Fail(q.status());
    auto res = api.Call(http::Method::kPost, base + "/insights/" + UrlEncode(c.kind), &*q);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    PrintInsight(c.kind == "funnel" ? "funnels" : c.kind, *res);
    return kOk;
  }
  if (c.person->parsed()) return call(http::Method::kGet, base + "/persons/" + UrlEncode(c.id));
  if (c.alias->parsed()) {
    json body = {{"distinct_id", c.id}, {"alias", c.alias_id}};
    return call(http::Method::kPost, base + "/alias", &body);
  }
  if (c.churn->parsed()) {
    Result<json> res = Status::Internal("");
    if (!c.label_property.empty()) {
      json body = {{"label_property", c.label_property}};
      if (!c.date_to.empty()) body["date_to"] = c.date_to;
      res = api.Call(http::Method::kPost, base + "/models/churn", &body);
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(c.timeout_s);
      while (res.ok() && !c.no_wait && ((*res)["state"] == "preparing" || (*res)["state"] == "training")) {
        if (std::chrono::steady_clock::now() > until) return Fail(Status::DeadlineExceeded("the churn model was not scored in time"));
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        res = api.Call(http::Method::kGet, base + "/models/churn");
      }
    } else {
      res = api.Call(http::Method::kGet, base + "/models/churn");
    }
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    const json& m = *res;
    if (m["state"] == "failed") return Fail(Status::Unprocessable("the churn model failed: " + Cell(m, "error")));
    std::cout << "Churn model of " << c.project << ": " << Cell(m, "state");
    if (m["state"] == "scored") {
      std::cout << ", version " << NumberCell(m["model_version"]) << ", " << NumberCell(m["scored"]) << " persons scored as "
                << Cell(m, "property") << ", held-out AUC " << NumberCell(m["holdout_auc"]);
    }
    std::cout << " (pipeline run " << NumberCell(m.value("pipeline_run", json())) << ")\n";
    return kOk;
  }
  if (c.cohorts->parsed()) {
    auto res = api.Call(http::Method::kGet, base + "/cohorts");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["cohorts"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : (*res)["cohorts"]) {
      rows.push_back({Cell(x, "name"), x.contains("distinct_ids") ? "static" : "dynamic", Cell(x, "description"), Cell(x, "owner")});
    }
    PrintTable({"NAME", "KIND", "DESCRIPTION", "OWNER"}, rows);
    return kOk;
  }
  if (c.cohort->parsed()) {
    auto text = ReadFileOrStdin(c.file);
    if (!text.ok()) return Fail(text.status());
    json body = json::parse(*text, nullptr, false);
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) return Fail(Status::BadRequest(c.file + " is not a JSON object with a name"));
    auto res = api.Call(http::Method::kPost, base + "/cohorts", &body);
    if (!res.ok()) return Fail(res.status());
    res = api.Call(http::Method::kGet, base + "/cohorts/" + UrlEncode(body["name"].get<std::string>()));
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Cohort " << Cell(*res, "name") << ": " << NumberCell((*res)["size"]) << " persons\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
