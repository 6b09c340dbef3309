#include "cli/deploy_commands.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct DeployCommands {
  CLI::App* root = nullptr;
  CLI::App *create = nullptr, *list = nullptr, *show = nullptr, *update = nullptr, *remove = nullptr;
  std::string name, model, alias, set_json, optimize;
  int64_t version = 0, instances = 0, threads = 0, max_batch_size = -1, max_queue_delay_us = -1,
          max_queue_size = 0, timeout_ms = 0, candidate = 0, weight = -1;
};

namespace {

// The options shared by create and update, as the JSON body fields they set.
void AddSettings(CLI::App* cmd, DeployCommands& c) {
  cmd->add_option("--version,-v", c.version, "Registry version to serve");
  cmd->add_option("--alias,-a", c.alias, "Registry alias to follow (e.g. production)");
  cmd->add_option("--instances", c.instances, "Parallel executors (1-64)");
  cmd->add_option("--threads", c.threads, "Intra-op threads per instance (1-64)");
  cmd->add_option("--max-batch-size", c.max_batch_size, "Dynamic batching: largest batch (0 = off)");
  cmd->add_option("--max-queue-delay-us", c.max_queue_delay_us, "Dynamic batching: longest wait to fill a batch");
  cmd->add_option("--max-queue-size", c.max_queue_size, "Requests that may wait; more get 503");
  cmd->add_option("--timeout-ms", c.timeout_ms, "Per-request timeout, queue wait included");
  cmd->add_option("--optimize", c.optimize, "TorchScript: freeze and optimise for inference (true, the default, or false)")
      ->check(CLI::IsMember({"true", "false"}));
  cmd->add_option("--candidate", c.candidate, "Canary: the version under test");
  cmd->add_option("--weight", c.weight, "Canary: % of requests sent to the candidate");
  cmd->add_option("--set", c.set_json, "Any other fields as a JSON object (e.g. '{\"traffic\":{…}}')");
}

Result<json> Settings(const DeployCommands& c) {
  json body = json::object();
  if (!c.set_json.empty()) {
    body = json::parse(c.set_json, nullptr, false);
    if (!body.is_object()) return Status::BadRequest("--set must be a JSON object");
  }
  if (c.version > 0) body["version"] = c.version;
  if (!c.alias.empty()) body["alias"] = c.alias;
  if (c.instances > 0) body["instances"] = c.instances;
  if (c.threads > 0) body["threads"] = c.threads;
  if (c.max_batch_size >= 0) body["max_batch_size"] = c.max_batch_size;
  if (c.max_queue_delay_us >= 0) body["max_queue_delay_us"] = c.max_queue_delay_us;
  if (c.max_queue_size > 0) body["max_queue_size"] = c.max_queue_size;
  if (c.timeout_ms > 0) body["timeout_ms"] = c.timeout_ms;
  if (!c.optimize.empty()) body["optimize"] = c.optimize == "true";
  if (c.candidate > 0) body["traffic"]["candidate"] = {{"version", c.candidate}};
  if (c.weight >= 0) body["traffic"]["weight"] = c.weight;
  return body;
}

std::string Serving(const json& d) {
  std::string s;
  for (const auto& v : d["serving"]) {
    if (!s.empty()) s += ", ";
    s += "v" + std::to_string(v["version"].get<int64_t>()) + " " + std::to_string(v["weight"].get<int>()) + "%";
  }
  return s;
}

int PrintDeployment(const json& d, bool as_json) {
  if (as_json) std::cout << d.dump() << "\n";
  else std::cout << d.dump(2) << "\n";
  return kOk;
}

}  // namespace

std::shared_ptr<DeployCommands> AddDeployCommands(CLI::App& app) {
  auto c = std::make_shared<DeployCommands>();
  c->root = app.add_subcommand("deploy", "Serving deployments (Open Inference Protocol v2 endpoints)");
  c->root->require_subcommand(1);
  c->create = c->root->add_subcommand("create", "Deploy a model version or alias");
  c->create->add_option("name", c->name, "Deployment name (the v2 model name)")->required();
  c->create->add_option("--model,-m", c->model, "Registry model")->required();
  AddSettings(c->create, *c);
  c->list = c->root->add_subcommand("list", "List deployments");
  c->show = c->root->add_subcommand("show", "Show a deployment, its versions and traffic history");
  c->show->add_option("name", c->name, "Deployment name")->required();
  c->update = c->root->add_subcommand("update", "Change a deployment (new versions load before taking traffic)");
  c->update->add_option("name", c->name, "Deployment name")->required();
  AddSettings(c->update, *c);
  c->remove = c->root->add_subcommand("delete", "Delete a deployment (queued requests finish first)");
  c->remove->add_option("name", c->name, "Deployment name")->required();
  return c;
}

std::optional<int> RunDeployCommands(DeployCommands& c, ApiClient& api, bool as_json) {
  const std::string base = "/api/v1/deployments";
  if (c.create->parsed() || c.update->parsed()) {
    auto body = Settings(c);
    if (!body.ok()) return Fail(body.status());
    if (c.create->parsed()) {
      (*body)["name"] = c.name;
      (*body)["model"] = c.model;
    }
    auto res = c.create->parsed() ? api.Call(http::Method::kPost, base, &*body)
                                  : api.Call(http::Method::kPatch, base + "/" + UrlEncode(c.name), &*body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) std::cout << res->dump() << "\n";
    else std::cout << (c.create->parsed() ? "Deployed " : "Updated ") << c.name << ": " << Serving(*res) << " ("
                   << (*res)["state"].get<std::string>() << ")\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, base);
    if (!res.ok()) return Fail(res.status());
    if (as_json) {
      std::cout << (*res)["deployments"].dump() << "\n";
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : (*res)["deployments"]) {
      std::string source = d["alias"].is_string() ? "@" + d["alias"].get<std::string>()
                                                  : ":" + std::to_string(d["version"].get<int64_t>());
      rows.push_back({d["name"], d["model"].get<std::string>() + source, Serving(d), d["state"],
                      std::to_string(d["max_batch_size"].get<int64_t>())});
    }
    PrintTable({"NAME", "MODEL", "SERVING", "STATE", "MAX BATCH"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, base + "/" + UrlEncode(c.name));
    if (!res.ok()) return Fail(res.status());
    return PrintDeployment(*res, as_json);
  }
  if (c.remove->parsed()) {
    auto res = api.Call(http::Method::kDelete, base + "/" + UrlEncode(c.name));
    if (!res.ok()) return Fail(res.status());
    if (as_json) std::cout << json{{"deleted", c.name}}.dump() << "\n";
    else std::cout << "Deleted deployment " << c.name << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
