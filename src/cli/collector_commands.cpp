#include "cli/collector_commands.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct CollectorCommands {
  CLI::App *create = nullptr, *list = nullptr, *show = nullptr, *pause = nullptr, *resume = nullptr, *remove = nullptr,
           *rejected = nullptr, *push = nullptr;
  std::string name, dataset, source, schedule, schema, file;
  int64_t rows = 0, limit = 50;
  double wait = 0;
  bool paused = false;
};

namespace {

constexpr const char* kBase = "/api/v1/collectors";

std::string Lag(const json& status) {
  if (!status.contains("lag") || !status["lag"].is_object()) return "";
  const json& l = status["lag"];
  if (l.contains("bytes")) return Cell(l, "bytes") + " B";
  if (l.contains("messages")) return Cell(l, "messages") + " msgs";
  if (l.contains("next_run")) return "next " + Cell(l, "next_run");
  return "";
}

}  // namespace

std::shared_ptr<CollectorCommands> AddCollectorCommands(CLI::App& app) {
  auto c = std::make_shared<CollectorCommands>();
  auto* root = app.add_subcommand("collector", "Collectors that fill datasets from files, HTTP pushes, SQL and topics");
  root->require_subcommand(1);
  c->create = root->add_subcommand("create", "Create a collector");
  c->create->add_option("name", c->name, "Collector name")->required();
  c->create->add_option("--dataset,-d", c->dataset, "The dataset it fills")->required();
  c->create->add_option("--source,-s", c->source, "The source as JSON ({\"type\":\"file_tail\",\"path\":…}) or @file")->required();
  c->create->add_option("--batch-rows", c->rows, "Rows per version at most (default 10000)");
  c->create->add_option("--batch-wait", c->wait, "Seconds a batch waits after its first row (default 5)");
  c->create->add_option("--schedule", c->schedule, "sql: a cron expression");
  c->create->add_option("--schema", c->schema, "The dataset's schema for its first version: JSON or @file");
  c->create->add_flag("--paused", c->paused, "Create it paused");
  c->list = root->add_subcommand("list", "List collectors with their state, rate and lag");
  c->show = root->add_subcommand("show", "Show a collector");
  c->show->add_option("name", c->name, "Collector name")->required();
  c->pause = root->add_subcommand("pause", "Pause a collector");
  c->pause->add_option("name", c->name, "Collector name")->required();
  c->resume = root->add_subcommand("resume", "Resume a collector");
  c->resume->add_option("name", c->name, "Collector name")->required();
  c->remove = root->add_subcommand("delete", "Delete a collector (its dataset stays)");
  c->remove->add_option("name", c->name, "Collector name")->required();
  c->rejected = root->add_subcommand("rejected", "Rows a collector could not store, newest first");
  c->rejected->add_option("name", c->name, "Collector name")->required();
  c->rejected->add_option("--limit,-n", c->limit, "How many (default 50)");
  c->push = root->add_subcommand("push", "Push JSON lines to an http collector");
  c->push->add_option("name", c->name, "Collector name")->required();
  c->push->add_option("file", c->file, "A file of JSON lines, or - for stdin")->required();
  return c;
}

std::optional<int> RunCollectorCommands(CollectorCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.name);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  if (c.create->parsed()) {
    auto source = JsonArgument(c.source, "--source");
    if (!source.ok()) return Fail(source.status());
    json body = {{"name", c.name}, {"dataset", c.dataset}, {"source", *source}, {"paused", c.paused}};
    json batch = json::object();
    if (c.rows > 0) batch["max_rows"] = c.rows;
    if (c.wait > 0) batch["max_wait_s"] = c.wait;
    if (!batch.empty()) body["batch"] = batch;
    if (!c.schedule.empty()) body["schedule"] = c.schedule;
    if (!c.schema.empty()) {
      auto schema = JsonArgument(c.schema, "--schema");
      if (!schema.ok()) return Fail(schema.status());
      body["schema"] = *schema;
    }
    auto res = api.Call(http::Method::kPost, kBase, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Created collector " << c.name << " (" << Cell((*res)["source"], "type") << " into " << c.dataset << ")";
    if (res->contains("push_url")) std::cout << "; push to " << Cell(*res, "push_url");
    std::cout << "\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, kBase);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["collectors"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& col : (*res)["collectors"]) {
      const json& s = col["status"];
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.1f", s.value("rows_per_s", 0.0));
      rows.push_back({Cell(col, "name"), Cell(col, "dataset"), Cell(col["source"], "type"), Cell(s, "state"), Cell(s, "rows"),
                      rate, Lag(s), Cell(col, "rejected"), Cell(s, "last_error")});
    }
    PrintTable({"NAME", "DATASET", "SOURCE", "STATE", "ROWS", "ROWS/S", "LAG", "REJECTED", "LAST ERROR"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    return print(*res);
  }
  for (auto [cmd, verb] : {std::pair{c.pause, "/pause"}, std::pair{c.resume, "/resume"}}) {
    if (!cmd->parsed()) continue;
    json empty = json::object();
    auto res = api.Call(http::Method::kPost, one + verb, &empty);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Collector " << c.name << " is " << Cell((*res)["status"], "state") << "\n";
    return kOk;
  }
  if (c.remove->parsed()) {
    auto res = api.Call(http::Method::kDelete, one);
    if (!res.ok()) return Fail(res.status());
    if (!as_json) std::cout << "Deleted collector " << c.name << "\n";
    return kOk;
  }
  if (c.rejected->parsed()) {
    auto res = api.Call(http::Method::kGet, one + "/rejected?page_size=" + std::to_string(std::clamp<int64_t>(c.limit, 1, 1000)));
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["rejected"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : (*res)["rejected"]) rows.push_back({Cell(r, "time"), Cell(r, "reason"), Cell(r, "row").substr(0, 80)});
    PrintTable({"TIME", "REASON", "ROW"}, rows);
    return kOk;
  }
  if (c.push->parsed()) {
    auto body = ReadFileOrStdin(c.file);
    if (!body.ok()) return Fail(body.status());
    auto res = api.Send(http::Method::kPost, "/api/v1/collect/" + UrlEncode(c.name), std::move(*body),
                        {{"Content-Type", "application/x-ndjson"}});
    if (!res.ok()) return Fail(res.status());
    json r = json::parse(res->body, nullptr, false);
    if (as_json) return print(r);
    std::cout << "Accepted " << Cell(r, "accepted") << " rows, rejected " << Cell(r, "rejected") << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
