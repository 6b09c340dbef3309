#include "cli/pipeline_commands.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"

namespace aimass::cli {

using nlohmann::json;

struct PipelineCommands {
  CLI::App *create = nullptr, *update = nullptr, *list = nullptr, *show = nullptr, *del = nullptr, *run = nullptr;
  CLI::App *runs = nullptr, *status = nullptr, *cancel = nullptr, *resume = nullptr, *logs = nullptr;
  std::string file, name, step;
  std::vector<std::string> params;
  int64_t id = 0, limit = 20;
  bool wait = false;
};

namespace {

constexpr const char* kBase = "/api/v1/pipelines";
constexpr const char* kRuns = "/api/v1/pipeline-runs";

bool Final(const std::string& state) { return state == "succeeded" || state == "failed" || state == "cancelled"; }

// KEY=VALUE with VALUE read as JSON when it is JSON (3, 0.1, true, [1,2]), else as text.
Result<json> Params(const std::vector<std::string>& items) {
  json out = json::object();
  for (const auto& kv : items) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Status::BadRequest("--param takes NAME=value");
    json v = json::parse(kv.substr(eq + 1), nullptr, false);
    out[kv.substr(0, eq)] = v.is_discarded() ? json(kv.substr(eq + 1)) : v;
  }
  return out;
}

void PrintSteps(const json& run) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : run["steps"]) {
    std::string cached = s.value("cached", false) ? "run " + Cell(s, "cached_from_run") : "-";
    std::string outputs = s["outputs"].empty() ? "-" : s["outputs"].dump();
    if (outputs.size() > 60) outputs = outputs.substr(0, 57) + "...";
    rows.push_back({Cell(s, "name"), Cell(s, "state"), Cell(s, "attempts"), cached, Cell(s, "job"), outputs,
                    Cell(s, "reason")});
  }
  PrintTable({"STEP", "STATE", "ATTEMPTS", "CACHED FROM", "JOB", "OUTPUTS", "REASON"}, rows);
}

int Show(ApiClient& api, int64_t id, bool wait, bool as_json) {
  const std::string path = std::string(kRuns) + "/" + std::to_string(id);
  for (;;) {
    auto res = api.Call(http::Method::kGet, path);
    if (!res.ok()) return Fail(res.status());
    std::string state = Cell(*res, "state");
    if (!wait || Final(state)) {
      if (as_json) {
        PrintJson(*res, true);
      } else {
        std::cout << "Run " << id << " of " << Cell(*res, "pipeline") << ": " << state
                  << (Cell(*res, "reason") != "" && Cell(*res, "reason") != "-" ? " (" + Cell(*res, "reason") + ")" : "")
                  << "\n";
        PrintSteps(*res);
      }
      return wait && state != "succeeded" ? kError : kOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

std::shared_ptr<PipelineCommands> AddPipelineCommands(CLI::App& app) {
  auto c = std::make_shared<PipelineCommands>();
  auto* root = app.add_subcommand("pipeline", "Pipelines of steps run on the cluster: create, run, status, resume");
  root->require_subcommand(1);
  c->create = root->add_subcommand("create", "Create a pipeline from a spec file (JSON or YAML)");
  c->create->add_option("file", c->file, "The spec")->required();
  c->update = root->add_subcommand("update", "Replace a pipeline's spec (runs going keep theirs)");
  c->update->add_option("name", c->name, "Pipeline (the spec must have this name)")->required();
  c->update->add_option("file", c->file, "The spec")->required();
  c->list = root->add_subcommand("list", "List pipelines");
  c->show = root->add_subcommand("show", "Show a pipeline's spec");
  c->show->add_option("name", c->name, "Pipeline")->required();
  c->del = root->add_subcommand("delete", "Delete a pipeline, its runs and its cache");
  c->del->add_option("name", c->name, "Pipeline")->required();
  c->run = root->add_subcommand("run", "Start a run; prints its id, or its steps with --wait");
  c->run->add_option("name", c->name, "Pipeline")->required();
  c->run->add_option("--param,-p", c->params, "NAME=value (JSON or text), repeatable");
  c->run->add_flag("--wait,-w", c->wait, "Wait for the run to end; exit 1 unless it succeeded");
  c->runs = root->add_subcommand("runs", "A pipeline's runs, newest first");
  c->runs->add_option("name", c->name, "Pipeline")->required();
  c->runs->add_option("--limit,-n", c->limit, "How many (default 20)");
  c->status = root->add_subcommand("status", "A run's state and each step's (state, attempts, cache, outputs)");
  c->status->add_option("id", c->id, "Run id")->required();
  c->status->add_flag("--wait,-w", c->wait, "Wait for the run to end; exit 1 unless it succeeded");
  c->cancel = root->add_subcommand("cancel", "Cancel a run");
  c->cancel->add_option("id", c->id, "Run id")->required();
  c->resume = root->add_subcommand("resume", "Resume a failed or cancelled run from its failed steps");
  c->resume->add_option("id", c->id, "Run id")->required();
  c->resume->add_flag("--wait,-w", c->wait, "Wait for the new run to end");
  c->logs = root->add_subcommand("logs", "Print a step's output (its last attempt)");
  c->logs->add_option("id", c->id, "Run id")->required();
  c->logs->add_option("step", c->step, "Step (name[i] for a foreach item)")->required();
  return c;
}

std::optional<int> RunPipelineCommands(PipelineCommands& c, ApiClient& api, bool as_json) {
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.name);
  for (auto [cmd, method] : {std::pair{c.create, http::Method::kPost}, std::pair{c.update, http::Method::kPut}}) {
    if (!cmd->parsed()) continue;
    auto text = ReadFile(c.file);
    if (!text.ok()) return Fail(text.status());
    std::string path = kBase;
    if (method == http::Method::kPut) path += "/" + UrlEncode(c.name);
    bool yaml = !json::accept(*text);
    auto res = api.Send(method, path, std::move(*text),
                        {{"Content-Type", yaml ? "application/yaml" : "application/json"}});
    if (!res.ok()) return Fail(res.status());
    json body = json::parse(res->body, nullptr, false);
    if (res->status >= 300) {
      std::string message = body.is_object() && body.contains("error") ? body["error"].value("message", "") : res->body;
      return Fail(Status::BadRequest(message));
    }
    if (as_json) return print(body);
    std::cout << (method == http::Method::kPost ? "Created" : "Updated") << " pipeline " << Cell(body, "name")
              << " (revision " << Cell(body, "revision") << ", " << body["spec"]["steps"].size() << " steps)\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, std::string(kBase) + "?page_size=1000");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["pipelines"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : (*res)["pipelines"]) {
      rows.push_back({Cell(p, "name"), std::to_string(p["spec"]["steps"].size()), Cell(p["spec"], "schedule"),
                      Cell(p, "owner"), Cell(p, "revision"), Cell(p, "updated_at")});
    }
    PrintTable({"NAME", "STEPS", "SCHEDULE", "OWNER", "REVISION", "UPDATED"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    return res.ok() ? print(*res) : Fail(res.status());
  }
  if (c.del->parsed()) {
    auto res = api.Send(http::Method::kDelete, one, "", {});
    if (!res.ok()) return Fail(res.status());
    if (res->status != 204) {
      auto err = api.Call(http::Method::kDelete, one);  // the error, in the API's words
      return Fail(err.ok() ? Status::Internal("HTTP " + std::to_string(res->status)) : err.status());
    }
    if (!as_json) std::cout << "Deleted pipeline " << c.name << "\n";
    return kOk;
  }
  if (c.run->parsed()) {
    auto params = Params(c.params);
    if (!params.ok()) return Fail(params.status());
    json body = {{"params", *params}};
    auto res = api.Call(http::Method::kPost, one + "/runs", &body);
    if (!res.ok()) return Fail(res.status());
    int64_t id = (*res)["id"].get<int64_t>();
    if (c.wait) return Show(api, id, true, as_json);
    if (as_json) return print(*res);
    std::cout << id << "\n";
    return kOk;
  }
  if (c.runs->parsed()) {
    auto res = api.Call(http::Method::kGet, one + "/runs?page_size=" + std::to_string(std::clamp<int64_t>(c.limit, 1, 1000)));
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["runs"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : (*res)["runs"]) {
      rows.push_back({Cell(r, "id"), Cell(r, "state"), Cell(r, "trigger"), Cell(r, "resumed_from"), Cell(r, "owner"),
                      Cell(r, "created_at"), Cell(r, "reason")});
    }
    PrintTable({"ID", "STATE", "TRIGGER", "RESUMED FROM", "OWNER", "CREATED", "REASON"}, rows);
    return kOk;
  }
  if (c.status->parsed()) return Show(api, c.id, c.wait, as_json);
  if (c.cancel->parsed()) {
    json empty = json::object();
    auto res = api.Call(http::Method::kPost, std::string(kRuns) + "/" + std::to_string(c.id) + "/cancel", &empty);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Cancelling run " << c.id << "\n";
    return kOk;
  }
  if (c.resume->parsed()) {
    json empty = json::object();
    auto res = api.Call(http::Method::kPost, std::string(kRuns) + "/" + std::to_string(c.id) + "/resume", &empty);
    if (!res.ok()) return Fail(res.status());
    int64_t id = (*res)["id"].get<int64_t>();
    if (c.wait) return Show(api, id, true, as_json);
    if (as_json) return print(*res);
    std::cout << id << "\n";
    return kOk;
  }
  if (c.logs->parsed()) {
    std::string path = std::string(kRuns) + "/" + std::to_string(c.id) + "/steps/" + UrlEncode(c.step) + "/logs";
    auto res = api.Send(http::Method::kGet, path, "", {});
    if (!res.ok()) return Fail(res.status());
    if (res->status != 200) {
      auto err = api.Call(http::Method::kGet, path);
      return Fail(err.ok() ? Status::Internal("HTTP " + std::to_string(res->status)) : err.status());
    }
    std::cout << res->body << std::flush;
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
