#include "cli/failpoint_commands.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct FailpointCommands {
  CLI::App *list = nullptr, *set = nullptr, *clear = nullptr;
  std::string name, action;
  bool armed_only = false;
};

std::shared_ptr<FailpointCommands> AddFailpointCommands(CLI::App& app) {
  auto c = std::make_shared<FailpointCommands>();
  auto* root = app.add_subcommand("failpoint", "Failpoints of a server run with --failpoints-api (crash tests only)");
  root->require_subcommand(1);
  c->list = root->add_subcommand("list", "Every failpoint with its action and hits");
  c->list->add_flag("--armed", c->armed_only, "Only the armed ones");
  c->set = root->add_subcommand("set", "Arm a failpoint");
  c->set->add_option("name", c->name, "Failpoint, e.g. blob.before_rename")->required();
  c->set->add_option("action", c->action, "crash | error | error(ENOSPC) | pause | sleep(MS) | off; N* fires N times")
      ->required();
  c->clear = root->add_subcommand("clear", "Disarm a failpoint (a paused thread goes on)");
  c->clear->add_option("name", c->name, "Failpoint")->required();
  return c;
}

std::optional<int> RunFailpointCommands(FailpointCommands& c, ApiClient& api, bool as_json) {
  const std::string base = "/api/v1/admin/failpoints";
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, base);
    if (!res.ok()) return Fail(res.status());
    json points = json::array();
    for (const auto& p : (*res)["failpoints"]) {
      if (!c.armed_only || p["action"] != "off") points.push_back(p);
    }
    if (as_json) return PrintJson(points, true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : points) {
      rows.push_back({p["name"].get<std::string>(), p["action"].get<std::string>(), std::to_string(p["hits"].get<int64_t>()),
                      p["guards"].get<std::string>()});
    }
    PrintTable({"NAME", "ACTION", "HITS", "GUARDS"}, rows);
    return kOk;
  }
  if (c.set->parsed()) {
    json body = {{"action", c.action}};
    auto res = api.Call(http::Method::kPut, base + "/" + UrlEncode(c.name), &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Failpoint " << c.name << " set to " << (*res)["action"].get<std::string>() << "\n";
    return kOk;
  }
  if (c.clear->parsed()) {
    auto res = api.Call(http::Method::kDelete, base + "/" + UrlEncode(c.name));
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(json{{"cleared", c.name}}, true);
    std::cout << "Failpoint " << c.name << " cleared\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
