#include "cli/job_commands.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct JobCommands {
  CLI::App *run = nullptr, *list = nullptr, *show = nullptr, *logs = nullptr, *cancel = nullptr;
  CLI::App *nodes = nullptr, *node_show = nullptr, *drain = nullptr, *undrain = nullptr;
  std::vector<std::string> command, env;
  std::string name, mem, executor, state, owner, node, set_json;
  int64_t id = 0, cpus = 0, timeout = 0, retries = -1, priority = 0, limit = 50;
  double gpus = 0;
  bool sandbox = false, no_sandbox = false, network = false, follow = false;
};

namespace {

// "512", "512M", "2G", "1.5G" -> MiB.
Result<int64_t> ParseMemory(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double mb = v;
  if (unit == "" || unit == "M" || unit == "m" || unit == "Mi" || unit == "MB") mb = v;
  else if (unit == "G" || unit == "g" || unit == "Gi" || unit == "GB") mb = v * 1024;
  else if (unit == "K" || unit == "k" || unit == "Ki" || unit == "KB") mb = v / 1024;
  else return Status::BadRequest("--mem takes a size such as 512M or 2G");
  if (end == text.c_str() || mb < 1) return Status::BadRequest("--mem takes a size such as 512M or 2G");
  return static_cast<int64_t>(mb + 0.5);
}

Result<json> RunBody(const JobCommands& c) {
  AIMASS_ASSIGN_OR_RETURN(json body, ParseSetFields(c.set_json));
  if (c.command.empty()) return Status::BadRequest("give the command after --: aimass job run -- CMD ARGS…");
  body["command"] = c.command;
  if (!c.name.empty()) body["name"] = c.name;
  json res = body.value("resources", json::object());
  if (c.cpus > 0) res["cpus"] = c.cpus;
  if (!c.mem.empty()) {
    AIMASS_ASSIGN_OR_RETURN(int64_t mb, ParseMemory(c.mem));
    res["memory_mb"] = mb;
  }
  if (c.gpus > 0) res["gpus"] = c.gpus;
  if (!res.empty()) body["resources"] = res;
  if (!c.env.empty()) {
    json e = body.value("env", json::object());
    for (const auto& kv : c.env) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return Status::BadRequest("--env takes NAME=value");
      e[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    body["env"] = e;
  }
  if (c.sandbox && c.no_sandbox) return Status::BadRequest("--sandbox and --no-sandbox exclude each other");
  if (c.sandbox) body["sandbox"] = true;
  if (c.no_sandbox) body["sandbox"] = false;
  if (c.network) body["network"] = true;
  if (!c.executor.empty()) body["executor"] = c.executor;
  if (c.timeout > 0) body["timeout_s"] = c.timeout;
  if (c.retries >= 0) body["retries"] = c.retries;
  if (c.priority != 0) body["priority"] = c.priority;
  return body;
}

bool Final(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" || state == "timed_out";
}

// Prints the job's log as it grows until the job has ended; returns the ended job.
Result<json> FollowLogs(ApiClient& api, int64_t id) {
  const std::string base = "/api/v1/jobs/" + std::to_string(id);
  uint64_t offset = 0;
  for (;;) {
    AIMASS_ASSIGN_OR_RETURN(json job, api.Call(http::Method::kGet, base));
    // Read everything there is, then look at the state fetched before: what an ended job
    // wrote is all read before the loop stops.
    for (;;) {
      AIMASS_ASSIGN_OR_RETURN(http::ClientResponse r,
                              api.Send(http::Method::kGet, base + "/logs?offset=" + std::to_string(offset) +
                                                                "&limit=1048576",
                                       "", {}));
      if (r.status != 200) return Status::Internal("reading the log failed with HTTP " + std::to_string(r.status));
      std::cout << r.body << std::flush;
      offset += r.body.size();
      if (r.body.size() < 1048576) break;
    }
    if (Final(Cell(job, "state"))) return job;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string Resources(const json& j) {
  const json& r = j["resources"];
  std::string s = Cell(r, "cpus") + " cpu, " + Cell(r, "memory_mb") + " MiB";
  if (r.value("gpus", 0.0) > 0) s += ", " + Cell(r, "gpus") + " gpu";
  return s;
}

}  // namespace

std::shared_ptr<JobCommands> AddJobCommands(CLI::App& app) {
  auto c = std::make_shared<JobCommands>();
  auto* root = app.add_subcommand("job", "Jobs on the compute cluster: run, list, show, logs, cancel");
  root->require_subcommand(1);
  c->run = root->add_subcommand("run", "Submit a job: aimass job run [options] -- CMD ARGS…");
  c->run->add_option("--name", c->name, "Job name (default: the command's)");
  c->run->add_option("--cpus", c->cpus, "CPUs (default 1)");
  c->run->add_option("--mem", c->mem, "Memory limit, e.g. 512M or 2G (default 512M)");
  c->run->add_option("--gpus", c->gpus, "GPUs: whole ones, or a share below 1");
  c->run->add_option("--env,-e", c->env, "NAME=value, repeatable");
  c->run->add_flag("--sandbox", c->sandbox, "Run under bubblewrap (the default)");
  c->run->add_flag("--no-sandbox", c->no_sandbox, "Run on the host (needs jobs:unsandboxed)");
  c->run->add_flag("--network", c->network, "Give a sandboxed job the host's network (needs jobs:network)");
  c->run->add_option("--executor", c->executor, "local (default) or slurm");
  c->run->add_option("--timeout", c->timeout, "Seconds per attempt (default 3600)");
  c->run->add_option("--retries", c->retries, "Further attempts after a failed one");
  c->run->add_option("--priority", c->priority, "Higher runs first (default 0)");
  c->run->add_option("--set", c->set_json, "Any other fields as a JSON object (labels, workdir)");
  c->run->add_flag("--follow,-f", c->follow, "Print the log until the job ends; exit with its exit code");
  c->run->add_option("command", c->command, "The command and its arguments, after --")->required();
  c->list = root->add_subcommand("list", "List jobs, newest first");
  c->list->add_option("--state", c->state, "Only these states: queued,running,succeeded,failed,cancelled,timed_out");
  c->list->add_option("--owner", c->owner, "Only this user's");
  c->list->add_option("--node", c->node, "Only those on this node");
  c->list->add_option("--limit,-n", c->limit, "How many (default 50)");
  c->show = root->add_subcommand("show", "Show a job");
  c->show->add_option("id", c->id, "Job id")->required();
  c->logs = root->add_subcommand("logs", "Print a job's output");
  c->logs->add_option("id", c->id, "Job id")->required();
  c->logs->add_flag("--follow,-f", c->follow, "Keep printing until the job ends");
  c->cancel = root->add_subcommand("cancel", "Cancel a job and its whole process tree");
  c->cancel->add_option("id", c->id, "Job id")->required();

  auto* node = app.add_subcommand("node", "Nodes of the compute cluster: list, show, drain, undrain");
  node->require_subcommand(1);
  c->nodes = node->add_subcommand("list", "List nodes with their CPUs, memory, GPUs and what is allocated");
  c->node_show = node->add_subcommand("show", "Show a node");
  c->node_show->add_option("name", c->node, "Node name")->required();
  c->drain = node->add_subcommand("drain", "Drain a node: running jobs finish, no new ones start (cluster:admin)");
  c->drain->add_option("name", c->node, "Node name")->required();
  c->undrain = node->add_subcommand("undrain", "Return a drained node to service (cluster:admin)");
  c->undrain->add_option("name", c->node, "Node name")->required();
  return c;
}

std::optional<int> RunJobCommands(JobCommands& c, ApiClient& api, bool as_json) {
  const std::string base = "/api/v1/jobs", one = base + "/" + std::to_string(c.id);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  if (c.run->parsed()) {
    auto body = RunBody(c);
    if (!body.ok()) return Fail(body.status());
    auto res = api.Call(http::Method::kPost, base, &*body);
    if (!res.ok()) return Fail(res.status());
    int64_t id = (*res)["id"].get<int64_t>();
    if (!c.follow) {
      if (as_json) return print(*res);
      std::cout << "Submitted job " << id << "\n";
      return kOk;
    }
    auto done = FollowLogs(api, id);
    if (!done.ok()) return Fail(done.status());
    if (as_json) print(*done);
    if (Cell(*done, "state") == "succeeded") return kOk;
    std::cerr << "job " << id << " " << Cell(*done, "state") << (Cell(*done, "reason") != "" ? ": " + Cell(*done, "reason") : "")
              << "\n";
    return kError;
  }
  if (c.list->parsed()) {
    std::string q = base + "?page_size=" + std::to_string(std::clamp<int64_t>(c.limit, 1, 1000));
    if (!c.state.empty()) q += "&state=" + UrlEncode(c.state);
    if (!c.owner.empty()) q += "&owner=" + UrlEncode(c.owner);
    if (!c.node.empty()) q += "&node=" + UrlEncode(c.node);
    auto res = api.Call(http::Method::kGet, q);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["jobs"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& j : (*res)["jobs"]) {
      rows.push_back({Cell(j, "id"), Cell(j, "name"), Cell(j, "owner"), Cell(j, "state"), Cell(j, "exit_code"),
                      Cell(j, "attempts"), Cell(j, "node"), Resources(j), Cell(j, "created_at")});
    }
    PrintTable({"ID", "NAME", "OWNER", "STATE", "EXIT", "ATTEMPTS", "NODE", "RESOURCES", "CREATED"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    return print(*res);
  }
  if (c.logs->parsed()) {
    if (c.follow) {
      auto done = FollowLogs(api, c.id);
      return done.ok() ? kOk : Fail(done.status());
    }
    auto res = api.Send(http::Method::kGet, one + "/logs", "", {});
    if (!res.ok()) return Fail(res.status());
    if (res->status != 200) {
      auto err = api.Call(http::Method::kGet, one + "/logs");  // the error, in the API's words
      return Fail(err.ok() ? Status::Internal("HTTP " + std::to_string(res->status)) : err.status());
    }
    std::cout << res->body << std::flush;
    return kOk;
  }
  if (c.cancel->parsed()) {
    json empty = json::object();
    auto res = api.Call(http::Method::kPost, one + "/cancel", &empty);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Job " << c.id << " is " << Cell(*res, "state") << (Cell(*res, "state") == "running" ? " (stopping)" : "")
              << "\n";
    return kOk;
  }
  const std::string nodes = "/api/v1/cluster/nodes";
  if (c.nodes->parsed()) {
    auto res = api.Call(http::Method::kGet, nodes);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["nodes"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : (*res)["nodes"]) {
      const json& a = n["allocated"];
      std::string gpus = std::to_string(n["gpus"].size());
      rows.push_back({Cell(n, "name"), Cell(n, "state"), Cell(a, "cpus") + "/" + Cell(n, "cpus"),
                      Cell(a, "memory_mb") + "/" + Cell(n, "memory_mb"), gpus, Cell(a, "jobs"), Cell(n, "limits"),
                      n.value("sandbox", false) ? "yes" : "no"});
    }
    PrintTable({"NAME", "STATE", "CPUS", "MEMORY MiB", "GPUS", "JOBS", "LIMITS", "SANDBOX"}, rows);
    return kOk;
  }
  if (c.node_show->parsed()) {
    auto res = api.Call(http::Method::kGet, nodes + "/" + UrlEncode(c.node));
    if (!res.ok()) return Fail(res.status());
    return print(*res);
  }
  for (auto [cmd, verb] : {std::pair{c.drain, "/drain"}, std::pair{c.undrain, "/undrain"}}) {
    if (!cmd->parsed()) continue;
    json empty = json::object();
    auto res = api.Call(http::Method::kPost, nodes + "/" + UrlEncode(c.node) + verb, &empty);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Node " << c.node << " is " << Cell(*res, "state") << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
