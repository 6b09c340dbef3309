#include "cli/usage_commands.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct UsageCommands {
  CLI::App *series = nullptr, *top = nullptr, *quota = nullptr, *alerts = nullptr, *alert = nullptr, *unalert = nullptr, *events = nullptr;
  std::string by = "application", value, from, to, metric = "calls", name, rule;
  int64_t step_s = 60, limit = 10;
};

namespace {

constexpr const char* kBase = "/api/v1/usage";

std::string Span(const UsageCommands& c) {
  std::string q;
  if (!c.from.empty()) q += "&from=" + UrlEncode(c.from);
  if (!c.to.empty()) q += "&to=" + UrlEncode(c.to);
  return q;
}

std::vector<std::string> Row(const std::string& value, const json& t) {
  return {value, NumberCell(t["calls"]), NumberCell(t["errors"]), NumberCell(t["error_rate"]), NumberCell(t["latency_avg_ms"]),
          NumberCell(t["latency_p95_ms"]), NumberCell(t["bytes_out"])};
}

const std::vector<std::string> kHeader = {"VALUE", "CALLS", "ERRORS", "ERROR RATE", "AVG MS", "P95 MS", "BYTES OUT"};

}  // namespace

std::shared_ptr<UsageCommands> AddUsageCommands(CLI::App& app) {
  auto c = std::make_shared<UsageCommands>();
  auto* root = app.add_subcommand("usage", "How applications use the platform: calls, errors, latency, quota, alert rules");
  root->require_subcommand(1);
  c->series = root->add_subcommand("series", "Totals per value over a period (--json: the points over time too)");
  c->series->add_option("--by", c->by, "all, application (default), consumer, route, deployment or version");
  c->series->add_option("--value", c->value, "Only this value");
  c->series->add_option("--from", c->from, "Start, RFC 3339 (default an hour ago)");
  c->series->add_option("--to", c->to, "End, RFC 3339 (default now)");
  c->series->add_option("--step", c->step_s, "Seconds per point, a multiple of 10 (default 60)");
  c->top = root->add_subcommand("top", "The top values of a dimension by a metric");
  c->top->add_option("--by", c->by, "application (default), consumer, route, deployment or version");
  c->top->add_option("--metric", c->metric, "calls (default), errors, error_rate, latency_avg_ms, latency_p95_ms or bytes_out");
  c->top->add_option("--from", c->from, "Start, RFC 3339");
  c->top->add_option("--to", c->to, "End, RFC 3339");
  c->top->add_option("--limit", c->limit, "Values (default 10)");
  c->quota = root->add_subcommand("quota", "Each consumer's calls against the rate limits of the routes it calls");
  c->alerts = root->add_subcommand("alerts", "The alert rules");
  c->alert = root->add_subcommand("alert", "Add or replace an alert rule from JSON {name, metric, by, value, threshold | anomaly, window_s, min_calls, webhook}");
  c->alert->add_option("rule", c->rule, "The rule as JSON, or @file")->required();
  c->unalert = root->add_subcommand("unalert", "Remove an alert rule");
  c->unalert->add_option("name", c->name, "Rule name")->required();
  c->events = root->add_subcommand("alert-events", "Alerts that fired and resolved, newest first");
  c->events->add_option("--rule", c->name, "Only this rule's");
  c->events->add_option("--limit", c->limit, "Events (default 10)");
  return c;
}

std::optional<int> RunUsageCommands(UsageCommands& c, ApiClient& api, bool as_json) {
  if (c.series->parsed() || c.top->parsed()) {
    const bool series = c.series->parsed();
    std::string path = std::string(kBase) + (series ? "/series?by=" + UrlEncode(c.by) + "&step_s=" + std::to_string(c.step_s)
                                                    : "/top?by=" + UrlEncode(c.by) + "&metric=" + UrlEncode(c.metric) +
                                                          "&limit=" + std::to_string(c.limit));
    if (series && !c.value.empty()) path += "&value=" + UrlEncode(c.value);
    path += Span(c);
    auto res = api.Call(http::Method::kGet, path);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::vector<std::vector<std::string>> rows;
    if (series) {
      for (const auto& s : (*res)["series"]) rows.push_back(Row(s["value"], s["total"]));
    } else {
      for (const auto& t : (*res)["top"]) rows.push_back(Row(t["value"], t));
    }
    PrintTable(kHeader, rows);
    return kOk;
  }
  if (c.quota->parsed()) {
    auto res = api.Call(http::Method::kGet, std::string(kBase) + "/quota");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["quota"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& q : (*res)["quota"]) {
      rows.push_back({Cell(q, "route"), Cell(q, "consumer"), Cell(q, "window_s"), NumberCell(q["calls"]), NumberCell(q["limit"]),
                      NumberCell(q["used"])});
    }
    PrintTable({"ROUTE", "CONSUMER", "WINDOW S", "CALLS", "LIMIT", "USED"}, rows);
    return kOk;
  }
  if (c.alerts->parsed()) {
    auto res = api.Call(http::Method::kGet, std::string(kBase) + "/alerts");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["rules"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : (*res)["rules"]) {
      rows.push_back({Cell(r, "name"), Cell(r, "metric"), Cell(r, "by") + (r.value("value", "").empty() ? "" : "=" + Cell(r, "value")),
                      r.contains("threshold") ? "> " + NumberCell(r["threshold"]) : "+" + NumberCell(r["anomaly"]) + " sd",
                      Cell(r, "window_s"), Cell(r, "webhook")});
    }
    PrintTable({"NAME", "METRIC", "BY", "WHEN", "WINDOW S", "WEBHOOK"}, rows);
    return kOk;
  }
  if (c.alert->parsed()) {
    auto body = JsonArgument(c.rule, "rule");
    if (!body.ok()) return Fail(body.status());
    auto res = api.Call(http::Method::kPost, std::string(kBase) + "/alerts", &*body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Alert rule " << Cell(*res, "name") << " saved\n";
    return kOk;
  }
  if (c.unalert->parsed()) {
    auto res = api.Call(http::Method::kDelete, std::string(kBase) + "/alerts/" + UrlEncode(c.name));
    if (!res.ok()) return Fail(res.status());
    if (!as_json) std::cout << "Alert rule " << c.name << " removed\n";
    return kOk;
  }
  if (c.events->parsed()) {
    std::string path = std::string(kBase) + "/alert-events?limit=" + std::to_string(c.limit);
    if (!c.name.empty()) path += "&rule=" + UrlEncode(c.name);
    auto res = api.Call(http::Method::kGet, path);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["events"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : (*res)["events"]) {
      rows.push_back({Cell(e, "at"), Cell(e, "rule"), Cell(e, "value"), Cell(e, "state"), NumberCell(e["observed"]), NumberCell(e["threshold"]),
                      Cell(e, "webhook_status")});
    }
    PrintTable({"AT", "RULE", "VALUE", "STATE", "OBSERVED", "THRESHOLD", "WEBHOOK"}, rows);
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
