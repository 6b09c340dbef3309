#include "cli/run_commands.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <fstream>
#include <iostream>
#include <set>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"
#include "common/text.hpp"

namespace aimass::cli {

using nlohmann::json;

struct RunCommands {
  CLI::App *exp_create = nullptr, *exp_list = nullptr, *exp_show = nullptr, *exp_delete = nullptr;
  CLI::App *start = nullptr, *log = nullptr, *end = nullptr, *list = nullptr, *show = nullptr, *compare = nullptr;
  CLI::App *history = nullptr, *upload = nullptr, *download = nullptr, *artifacts = nullptr, *del = nullptr;
  std::string name, description, experiment, filter, order_by, columns, status = "succeeded", key, file, path, output;
  std::vector<std::string> params, tags, metrics, goals;
  std::vector<int64_t> ids;
  int64_t id = 0, limit = 50, step = -1;
};

namespace {

constexpr const char* kExperiments = "/api/v1/experiments";
constexpr const char* kRuns = "/api/v1/runs";

// NAME=value, repeatable.
Result<json> Pairs(const std::vector<std::string>& items, const char* flag) {
  json out = json::object();
  for (const auto& kv : items) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Status::BadRequest(std::string(flag) + " takes KEY=value");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

// KEY=value for metrics, the value a number.
Result<json> MetricPoints(const std::vector<std::string>& items, int64_t step) {
  json out = json::array();
  for (const auto& kv : items) {
    size_t eq = kv.find('=');
    double v = 0;
    const char* b = kv.data() + (eq == std::string::npos ? 0 : eq + 1);
    auto [p, ec] = std::from_chars(b, kv.data() + kv.size(), v);
    if (eq == std::string::npos || eq == 0 || ec != std::errc() || p != kv.data() + kv.size()) {
      return Status::BadRequest("--metric takes KEY=number");
    }
    json point = {{"key", kv.substr(0, eq)}, {"value", v}};
    if (step >= 0) point["step"] = step;
    out.push_back(point);
  }
  return out;
}

std::string Number(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.6g", v.get<double>());
    return buf;
  }
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// The error a raw (non-JSON) call answered with, in the API's words.
Status HttpError(const http::ClientResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    return Status::BadRequest(j["error"].value("message", "HTTP " + std::to_string(r.status)));
  }
  return Status::Internal("HTTP " + std::to_string(r.status));
}

int ListRuns(RunCommands& c, ApiClient& api, bool as_json) {
  std::string q = std::string(kRuns) + "?page_size=" + std::to_string(std::clamp<int64_t>(c.limit, 1, 1000));
  if (!c.experiment.empty()) q += "&experiment=" + UrlEncode(c.experiment);
  if (!c.filter.empty()) q += "&filter=" + UrlEncode(c.filter);
  if (!c.order_by.empty()) q += "&order_by=" + UrlEncode(c.order_by);
  auto res = api.Call(http::Method::kGet, q);
  if (!res.ok()) return Fail(res.status());
  const json& runs = (*res)["runs"];
  if (as_json) return PrintJson(runs, true);
  // Columns: those asked for (params.x, metrics.y, tags.z), else the metrics the page has.
  std::vector<std::string> columns;
  if (!c.columns.empty()) {
    std::string rest = c.columns;
    for (size_t at; !rest.empty();) {
      at = rest.find(',');
      columns.push_back(rest.substr(0, at));
      rest = at == std::string::npos ? "" : rest.substr(at + 1);
    }
  } else {
    std::set<std::string> keys;
    for (const auto& r : runs) {
      for (auto it = r["metrics"].begin(); it != r["metrics"].end(); ++it) keys.insert(it.key());
    }
    for (const auto& k : keys) {
      if (columns.size() < 4 && k.rfind("system/", 0) != 0) columns.push_back("metrics." + k);
    }
  }
  std::vector<std::string> header = {"ID", "NAME", "EXPERIMENT", "STATUS", "STARTED"};
  for (const auto& col : columns) header.push_back(col);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    std::vector<std::string> row = {Cell(r, "id"), Cell(r, "name"), Cell(r, "experiment"), Cell(r, "status"),
                                    Cell(r, "start_time")};
    for (const auto& col : columns) {
      size_t dot = col.find('.');
      std::string group = dot == std::string::npos ? "" : col.substr(0, dot), key = col.substr(dot + 1);
      if (group == "metrics" && r["metrics"].contains(key)) row.push_back(Number(r["metrics"][key]["value"]));
      else if ((group == "params" || group == "tags") && r[group].contains(key)) row.push_back(Number(r[group][key]));
      else row.push_back("-");
    }
    rows.push_back(std::move(row));
  }
  PrintTable(header, rows);
  return kOk;
}

int Compare(RunCommands& c, ApiClient& api, bool as_json) {
  json body = {{"runs", c.ids}};
  auto goals = Pairs(c.goals, "--goal");
  if (!goals.ok()) return Fail(goals.status());
  if (!goals->empty()) body["goals"] = *goals;
  auto res = api.Call(http::Method::kPost, std::string(kRuns) + "/compare", &body);
  if (!res.ok()) return Fail(res.status());
  if (as_json) return PrintJson(*res, true);
  std::vector<std::string> header = {"", "KEY"};
  for (const auto& r : (*res)["runs"]) header.push_back(Cell(r, "name") + " (" + Cell(r, "id") + ")");
  std::vector<std::vector<std::string>> rows;
  // Differing params are marked with '*'; the best run of each metric with '*' beside its value.
  for (const auto& p : (*res)["params"]) {
    std::vector<std::string> row = {p["differs"].get<bool>() ? "*" : "", "params." + p["key"].get<std::string>()};
    for (const auto& v : p["values"]) row.push_back(Number(v));
    rows.push_back(std::move(row));
  }
  for (const auto& m : (*res)["metrics"]) {
    std::vector<std::string> last = {"", "metrics." + m["key"].get<std::string>() + " (last)"};
    std::vector<std::string> best = {"", "metrics." + m["key"].get<std::string>() + " (" + m["goal"].get<std::string>() + ")"};
    for (size_t i = 0; i < m["last"].size(); ++i) {
      last.push_back(Number(m["last"][i]));
      bool is_best = !m["best_run"].is_null() && (*res)["runs"][i]["id"] == m["best_run"];
      best.push_back(Number(m["best"][i]) + (is_best ? " *" : ""));
    }
    rows.push_back(std::move(last));
    rows.push_back(std::move(best));
  }
  PrintTable(header, rows);
  return kOk;
}

}  // namespace

std::shared_ptr<RunCommands> AddRunCommands(CLI::App& app) {
  auto c = std::make_shared<RunCommands>();
  auto* exp = app.add_subcommand("experiment", "Experiments (groups of tracked runs): create, list, show, delete");
  exp->require_subcommand(1);
  c->exp_create = exp->add_subcommand("create", "Create an experiment");
  c->exp_create->add_option("name", c->name, "Experiment name")->required();
  c->exp_create->add_option("--description,-d", c->description, "What it is for");
  c->exp_list = exp->add_subcommand("list", "List experiments with their run counts");
  c->exp_show = exp->add_subcommand("show", "Show an experiment");
  c->exp_show->add_option("name", c->name, "Experiment name")->required();
  c->exp_delete = exp->add_subcommand("delete", "Delete an experiment and all its runs");
  c->exp_delete->add_option("name", c->name, "Experiment name")->required();

  auto* run = app.add_subcommand("run", "Tracked runs: start, log, end, list, show, compare, history, artifacts");
  run->require_subcommand(1);
  c->start = run->add_subcommand("start", "Start a run; prints its id");
  c->start->add_option("--experiment,-e", c->experiment, "Its experiment")->required();
  c->start->add_option("--name", c->name, "Run name (default run-<id>)");
  c->start->add_option("--param,-p", c->params, "KEY=value, repeatable");
  c->start->add_option("--tag,-t", c->tags, "KEY=value, repeatable");
  c->log = run->add_subcommand("log", "Log metrics, params and tags to a run in one call");
  c->log->add_option("id", c->id, "Run id")->required();
  c->log->add_option("--metric,-m", c->metrics, "KEY=number, repeatable");
  c->log->add_option("--step", c->step, "The step of the metrics (default 0)");
  c->log->add_option("--param,-p", c->params, "KEY=value, repeatable");
  c->log->add_option("--tag,-t", c->tags, "KEY=value, repeatable");
  c->end = run->add_subcommand("end", "End a run with a status");
  c->end->add_option("id", c->id, "Run id")->required();
  c->end->add_option("--status", c->status, "succeeded (default), failed or cancelled");
  c->list = run->add_subcommand("list", "Search runs, newest first");
  c->list->add_option("--experiment,-e", c->experiment, "Only these experiments (comma-separated)");
  c->list->add_option("--filter,-f", c->filter, "e.g. \"params.lr = '0.1' AND metrics.accuracy > 0.9\"");
  c->list->add_option("--order-by,-o", c->order_by, "e.g. \"metrics.accuracy desc\" (default start_time desc)");
  c->list->add_option("--columns,-c", c->columns, "Columns to show: params.x,metrics.y,tags.z");
  c->list->add_option("--limit,-n", c->limit, "How many (default 50)");
  c->show = run->add_subcommand("show", "Show a run");
  c->show->add_option("id", c->id, "Run id")->required();
  c->compare = run->add_subcommand("compare", "Compare runs: params side by side (* differs), last and best metrics");
  c->compare->add_option("ids", c->ids, "Run ids")->required();
  c->compare->add_option("--goal", c->goals, "METRIC=max|min: which end is best (default: min for losses and errors)");
  c->history = run->add_subcommand("history", "Print a metric's history: step, value, timestamp");
  c->history->add_option("id", c->id, "Run id")->required();
  c->history->add_option("key", c->key, "Metric key")->required();
  c->upload = run->add_subcommand("upload", "Store a file as an artifact of a run");
  c->upload->add_option("id", c->id, "Run id")->required();
  c->upload->add_option("file", c->file, "The file")->required();
  c->upload->add_option("--path", c->path, "Its path among the run's artifacts (default: the file's name)");
  c->download = run->add_subcommand("download", "Download an artifact of a run");
  c->download->add_option("id", c->id, "Run id")->required();
  c->download->add_option("path", c->path, "Artifact path")->required();
  c->download->add_option("--output,-o", c->output, "Where to write it (default: its file name; - for stdout)");
  c->artifacts = run->add_subcommand("artifacts", "List a run's artifacts");
  c->artifacts->add_option("id", c->id, "Run id")->required();
  c->del = run->add_subcommand("delete", "Delete a run and all it logged");
  c->del->add_option("id", c->id, "Run id")->required();
  return c;
}

std::optional<int> RunRunCommands(RunCommands& c, ApiClient& api, bool as_json) {
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  const std::string exp = std::string(kExperiments) + "/" + UrlEncode(c.name);
  const std::string one = std::string(kRuns) + "/" + std::to_string(c.id);
  if (c.exp_create->parsed()) {
    json body = {{"name", c.name}, {"description", c.description}};
    auto res = api.Call(http::Method::kPost, kExperiments, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Created experiment " << c.name << "\n";
    return kOk;
  }
  if (c.exp_list->parsed()) {
    auto res = api.Call(http::Method::kGet, std::string(kExperiments) + "?page_size=1000");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["experiments"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : (*res)["experiments"]) {
      rows.push_back({Cell(e, "name"), Cell(e, "run_count"), Cell(e, "owner"), Cell(e, "description"), Cell(e, "updated_at")});
    }
    PrintTable({"NAME", "RUNS", "OWNER", "DESCRIPTION", "UPDATED"}, rows);
    return kOk;
  }
  if (c.exp_show->parsed()) {
    auto res = api.Call(http::Method::kGet, exp);
    return res.ok() ? print(*res) : Fail(res.status());
  }
  if (c.exp_delete->parsed()) {
    auto res = api.Send(http::Method::kDelete, exp, "", {});
    if (!res.ok()) return Fail(res.status());
    if (res->status != 204) return Fail(HttpError(*res));
    if (!as_json) std::cout << "Deleted experiment " << c.name << "\n";
    return kOk;
  }
  if (c.start->parsed()) {
    json body = {{"experiment", c.experiment}};
    if (!c.name.empty()) body["name"] = c.name;
    auto params = Pairs(c.params, "--param");
    auto tags = Pairs(c.tags, "--tag");
    if (!params.ok()) return Fail(params.status());
    if (!tags.ok()) return Fail(tags.status());
    body["params"] = *params;
    body["tags"] = *tags;
    auto res = api.Call(http::Method::kPost, kRuns, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << (*res)["id"].get<int64_t>() << "\n";  // just the id, for scripts: RUN=$(aimass run start …)
    return kOk;
  }
  if (c.log->parsed()) {
    auto metrics = MetricPoints(c.metrics, c.step);
    auto params = Pairs(c.params, "--param");
    auto tags = Pairs(c.tags, "--tag");
    if (!metrics.ok()) return Fail(metrics.status());
    if (!params.ok()) return Fail(params.status());
    if (!tags.ok()) return Fail(tags.status());
    json body = {{"metrics", *metrics}, {"params", *params}, {"tags", *tags}};
    auto res = api.Call(http::Method::kPost, one + "/log", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    return kOk;
  }
  if (c.end->parsed()) {
    json body = {{"status", c.status}};
    auto res = api.Call(http::Method::kPatch, one, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Run " << c.id << " " << Cell(*res, "status") << "\n";
    return kOk;
  }
  if (c.list->parsed()) return ListRuns(c, api, as_json);
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    return res.ok() ? print(*res) : Fail(res.status());
  }
  if (c.compare->parsed()) return Compare(c, api, as_json);
  if (c.history->parsed()) {
    json all = json::array();
    for (std::string token;;) {
      auto res = api.Call(http::Method::kGet, one + "/metrics/" + UrlEncode(c.key) + "?page_size=25000&page_token=" + token);
      if (!res.ok()) return Fail(res.status());
      for (auto& p : (*res)["metrics"]) all.push_back(std::move(p));
      token = (*res)["next_page_token"].get<std::string>();
      if (token.empty()) break;
    }
    if (as_json) return print(all);
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : all) rows.push_back({Cell(p, "step"), Number(p["value"]), Cell(p, "timestamp")});
    PrintTable({"STEP", "VALUE", "TIMESTAMP"}, rows);
    return kOk;
  }
  if (c.upload->parsed()) {
    auto data = ReadFile(c.file);
    if (!data.ok()) return Fail(data.status());
    std::string path = c.path;
    if (path.empty()) path = c.file.substr(c.file.rfind('/') == std::string::npos ? 0 : c.file.rfind('/') + 1);
    auto res = api.Send(http::Method::kPut, one + "/artifacts/" + PercentEncode(path, true), std::move(*data),
                        {{"Content-Type", "application/octet-stream"}});
    if (!res.ok()) return Fail(res.status());
    if (res->status != 201) return Fail(HttpError(*res));
    json a = json::parse(res->body, nullptr, false);
    if (as_json) return print(a);
    std::cout << "Stored " << Cell(a, "path") << " (" << Cell(a, "size") << " bytes, " << Cell(a, "digest") << ")\n";
    return kOk;
  }
  if (c.download->parsed()) {
    auto res = api.Send(http::Method::kGet, one + "/artifacts/" + PercentEncode(c.path, true), "", {});
    if (!res.ok()) return Fail(res.status());
    if (res->status != 200) return Fail(HttpError(*res));
    std::string out = c.output.empty() ? c.path.substr(c.path.rfind('/') == std::string::npos ? 0 : c.path.rfind('/') + 1)
                                       : c.output;
    if (out == "-") {
      std::cout << res->body << std::flush;
      return kOk;
    }
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    f.write(res->body.data(), static_cast<std::streamsize>(res->body.size()));
    if (!f) return Fail(Status::Internal("cannot write " + out));
    if (!as_json) std::cout << "Wrote " << out << " (" << res->body.size() << " bytes)\n";
    return kOk;
  }
  if (c.artifacts->parsed()) {
    auto res = api.Call(http::Method::kGet, one + "/artifacts");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["artifacts"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : (*res)["artifacts"]) rows.push_back({Cell(a, "path"), Cell(a, "size"), Cell(a, "digest"), Cell(a, "created_at")});
    PrintTable({"PATH", "SIZE", "DIGEST", "CREATED"}, rows);
    return kOk;
  }
  if (c.del->parsed()) {
    auto res = api.Send(http::Method::kDelete, one, "", {});
    if (!res.ok()) return Fail(res.status());
    if (res->status != 204) return Fail(HttpError(*res));
    if (!as_json) std::cout << "Deleted run " << c.id << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
