#include "cli/cron_commands.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct CronCommands {
  CLI::App *add = nullptr, *list = nullptr, *show = nullptr, *runs = nullptr, *run = nullptr, *pause = nullptr,
           *resume = nullptr, *del = nullptr;
  std::string name, schedule, tz, policy, http, mq, shell, body, key, set_json;
  std::vector<std::string> headers;
  int64_t deadline = -1, catchup = -1, retries = -1, timeout = -1, limit = 20;
  bool paused = false;
};

namespace {

std::string TargetSummary(const json& t) {
  std::string type = Cell(t, "type");
  if (type == "http") return Cell(t, "method") + " " + Cell(t, "path");
  if (type == "mq") return "mq " + Cell(t, "topic");
  return "shell";
}

Result<json> JobBody(const CronCommands& c) {
  AIMASS_ASSIGN_OR_RETURN(json body, ParseSetFields(c.set_json));
  body["name"] = c.name;
  body["schedule"] = c.schedule;
  if (!c.tz.empty()) body["time_zone"] = c.tz;
  if (!c.policy.empty()) body["concurrency_policy"] = c.policy;
  if (c.deadline >= 0) body["starting_deadline_seconds"] = c.deadline;
  if (c.catchup >= 0) body["max_catchup"] = c.catchup;
  if (c.retries >= 0) body["retries"] = c.retries;
  if (c.timeout >= 0) body["timeout_seconds"] = c.timeout;
  if (c.paused) body["paused"] = true;
  int targets = !c.http.empty() + !c.mq.empty() + !c.shell.empty();
  if (targets != 1) return Status::BadRequest("give exactly one target: --http \"METHOD /path\", --mq TOPIC or --shell COMMAND");
  json t;
  if (!c.http.empty()) {
    size_t sp = c.http.find(' ');
    t = {{"type", "http"}};
    if (sp == std::string::npos) {
      t["path"] = c.http;
    } else {
      t["method"] = c.http.substr(0, sp);
      t["path"] = c.http.substr(sp + 1);
    }
  } else if (!c.mq.empty()) {
    t = {{"type", "mq"}, {"topic", c.mq}};
    if (!c.key.empty()) t["key"] = c.key;
  } else {
    t = {{"type", "shell"}, {"command", c.shell}};
  }
  if (!c.body.empty()) t["body"] = c.body;
  if (!c.headers.empty()) {
    json h = json::object();
    for (const auto& kv : c.headers) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return Status::BadRequest("--header takes name=value");
      h[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    t["headers"] = h;
  }
  body["target"] = t;
  return body;
}

}  // namespace

std::shared_ptr<CronCommands> AddCronCommands(CLI::App& app) {
  auto c = std::make_shared<CronCommands>();
  auto* root = app.add_subcommand("cron", "Scheduled jobs: cron schedules in a time zone firing HTTP, MQ or shell targets");
  root->require_subcommand(1);

  c->add = root->add_subcommand("add", "Create a cron job");
  c->add->add_option("name", c->name, "Job name")->required();
  c->add->add_option("--schedule,-s", c->schedule, "Cron expression: 5 or 6 fields, or @hourly/@daily/…")->required();
  c->add->add_option("--tz", c->tz, "IANA time zone (default UTC), e.g. Europe/Berlin");
  c->add->add_option("--policy", c->policy, "concurrency_policy: Allow | Forbid | Replace");
  c->add->add_option("--deadline", c->deadline, "starting_deadline_seconds: skip runs later than this");
  c->add->add_option("--catchup", c->catchup, "max_catchup: missed runs to start after downtime (default 1)");
  c->add->add_option("--retries", c->retries, "Further attempts after a failed one");
  c->add->add_option("--timeout", c->timeout, "Seconds per attempt (default 300)");
  c->add->add_option("--http", c->http, "Target: \"METHOD /api/v1/…\" into the platform, as you");
  c->add->add_option("--mq", c->mq, "Target: publish to this topic");
  c->add->add_option("--shell", c->shell, "Target: a shell command (needs cron:shell)");
  c->add->add_option("--body", c->body, "Request or message body");
  c->add->add_option("--key", c->key, "Message key (--mq)");
  c->add->add_option("--header", c->headers, "name=value, repeatable");
  c->add->add_flag("--paused", c->paused, "Create it paused");
  c->add->add_option("--set", c->set_json, "Any other fields as a JSON object (retry_backoff_ms, history_limit)");

  c->list = root->add_subcommand("list", "List cron jobs with their next run");
  c->show = root->add_subcommand("show", "Show a cron job");
  c->show->add_option("name", c->name, "Job name")->required();
  c->runs = root->add_subcommand("runs", "A job's runs, newest first");
  c->runs->add_option("name", c->name, "Job name")->required();
  c->runs->add_option("--limit,-n", c->limit, "How many (default 20)");
  c->run = root->add_subcommand("run", "Run a job now, outside its schedule");
  c->run->add_option("name", c->name, "Job name")->required();
  c->pause = root->add_subcommand("pause", "Pause a job");
  c->pause->add_option("name", c->name, "Job name")->required();
  c->resume = root->add_subcommand("resume", "Resume a job from its next time after now");
  c->resume->add_option("name", c->name, "Job name")->required();
  c->del = root->add_subcommand("delete", "Delete a job and its history");
  c->del->add_option("name", c->name, "Job name")->required();
  return c;
}

std::optional<int> RunCronCommands(CronCommands& c, ApiClient& api, bool as_json) {
  const std::string base = "/api/v1/cron";
  const std::string one = base + "/" + UrlEncode(c.name);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  if (c.add->parsed()) {
    auto body = JobBody(c);
    if (!body.ok()) return Fail(body.status());
    auto res = api.Call(http::Method::kPost, base, &*body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Created cron job " << c.name << "; next run " << Cell(*res, "next_run") << "\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, base);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["jobs"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& j : (*res)["jobs"]) {
      rows.push_back({Cell(j, "name"), Cell(j, "schedule"), Cell(j, "time_zone"), TargetSummary(j["target"]),
                      j["paused"].get<bool>() ? "paused" : Cell(j, "next_run")});
    }
    PrintTable({"NAME", "SCHEDULE", "TIME ZONE", "TARGET", "NEXT RUN"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    return print(*res);
  }
  if (c.runs->parsed()) {
    auto res = api.Call(http::Method::kGet, one + "/runs?page_size=" + std::to_string(std::clamp<int64_t>(c.limit, 1, 1000)));
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["runs"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : (*res)["runs"]) {
      std::string error = Cell(r, "error");
      if (error.size() > 60) error = error.substr(0, 57) + "...";
      rows.push_back({Cell(r, "id"), Cell(r, "scheduled"), Cell(r, "trigger"), Cell(r, "status"), Cell(r, "attempts"),
                      Cell(r, "duration_ms"), error});
    }
    PrintTable({"ID", "SCHEDULED", "TRIGGER", "STATUS", "ATTEMPTS", "MS", "ERROR"}, rows);
    return kOk;
  }
  for (auto [cmd, verb, done] : {std::tuple{c.run, "/run", "Queued a run of "}, std::tuple{c.pause, "/pause", "Paused "},
                                 std::tuple{c.resume, "/resume", "Resumed "}}) {
    if (!cmd->parsed()) continue;
    json empty = json::object();
    auto res = api.Call(http::Method::kPost, one + verb, &empty);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << done << c.name << "\n";
    return kOk;
  }
  if (c.del->parsed()) {
    auto res = api.Call(http::Method::kDelete, one);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(json{{"deleted", c.name}});
    std::cout << "Deleted " << c.name << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
