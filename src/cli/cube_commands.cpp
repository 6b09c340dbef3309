#include "cli/cube_commands.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <iostream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct CubeCommands {
  CLI::App *create = nullptr, *list = nullptr, *show = nullptr, *del = nullptr, *refresh = nullptr, *query = nullptr, *sql = nullptr,
           *anomalies = nullptr, *explain = nullptr, *views = nullptr;
  std::string cube, file, statement, totals, measure, level, from, to, query_json;
  std::vector<std::string> measures, dimensions, filters, order;
  int64_t limit = 100, timeout_s = 600;
  bool no_wait = false;
};

namespace {

constexpr const char* kBase = "/api/v1/cubes";

void PrintAnswer(const json& r) {
  std::vector<std::string> header;
  for (const auto& c : r["columns"]) header.push_back(c["name"].get<std::string>());
  const bool totals = !r["rows"].empty() && r["rows"][0].contains("grouping");
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : r["rows"]) {
    std::vector<std::string> cells;
    size_t i = 0;
    for (const auto& c : r["columns"]) {
      const std::string name = c["name"];
      const bool rolled = totals && c["kind"] == "dimension" && row["grouping"][i] == 1;
      cells.push_back(rolled ? "(total)" : NumberCell(row.value(name, json())));
      if (c["kind"] == "dimension") ++i;
    }
    rows.push_back(std::move(cells));
  }
  PrintTable(header, rows);
  std::cout << r["rows"].size() << " of " << Cell(r, "total_rows") << " rows";
  if (r.contains("pre_aggregation") && !r["pre_aggregation"].is_null()) std::cout << ", from pre-aggregation " << Cell(r, "pre_aggregation");
  if (r.contains("stats")) std::cout << ", " << NumberCell(r["stats"]["took_ms"]) << " ms";
  std::cout << "\n";
}

// "country=France", "country in France,Spain", "time>=2011-01-01", "time between 2011-01,2011-03".
Result<json> ParseFilter(const std::string& text) {
  static const std::pair<const char*, const char*> kWords[] = {{" not_in ", "not_in"}, {" in ", "in"}, {" between ", "between"},
                                                               {" contains ", "contains"}, {" starts_with ", "starts_with"}};
  static const std::pair<const char*, const char*> kSyms[] = {{">=", "gte"}, {"<=", "lte"}, {"!=", "ne"}, {"=", "eq"}, {">", "gt"}, {"<", "lt"}};
  std::string level, op, rest;
  for (const auto& [w, name] : kWords) {
    const size_t at = text.find(w);
    if (at != std::string::npos) {
      level = text.substr(0, at), op = name, rest = text.substr(at + std::strlen(w));
      break;
    }
  }
  if (op.empty()) {
    for (const auto& [sym, name] : kSyms) {
      const size_t at = text.find(sym);
      if (at != std::string::npos) {
        level = text.substr(0, at), op = name, rest = text.substr(at + std::strlen(sym));
        break;
      }
    }
  }
  auto trim = [](std::string s) {
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  level = trim(level);
  rest = trim(rest);
  if (op.empty() || level.empty()) return Status::BadRequest("a filter is LEVEL=VALUE, LEVEL!=VALUE, LEVEL>=VALUE, 'LEVEL in A,B', 'LEVEL between A,B', 'LEVEL contains X'");
  json f = {{"dimension", level}, {"op", op}};
  if (op == "in" || op == "not_in" || op == "between") {
    json values = json::array();
    size_t start = 0;
    for (;;) {
      const size_t comma = rest.find(',', start);
      values.push_back(trim(rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    f["values"] = values;
  } else {
    f["value"] = rest;
  }
  return f;
}

}  // namespace

std::shared_ptr<CubeCommands> AddCubeCommands(CLI::App& app) {
  auto c = std::make_shared<CubeCommands>();
  auto* root = app.add_subcommand("cube", "Cubes over datasets: define, query (flags or SQL), anomalies, explain a change");
  root->require_subcommand(1);
  c->create = root->add_subcommand("create", "Create a cube from a JSON file {name, source, dimensions, measures, pre_aggregations} and wait until it is built");
  c->create->add_option("file", c->file, "The cube (JSON), or - for stdin")->required();
  c->create->add_flag("--no-wait", c->no_wait, "Return while it builds");
  c->create->add_option("--timeout", c->timeout_s, "Seconds to wait (default 600)");
  c->list = root->add_subcommand("list", "List the cubes");
  c->show = root->add_subcommand("show", "Show a cube: definition, levels, state, pre-aggregations");
  c->show->add_option("cube", c->cube, "Cube name")->required();
  c->del = root->add_subcommand("delete", "Delete a cube");
  c->del->add_option("cube", c->cube, "Cube name")->required();
  c->refresh = root->add_subcommand("refresh", "Build a cube again from its source's newest version now");
  c->refresh->add_option("cube", c->cube, "Cube name")->required();
  c->query = root->add_subcommand("query", "Query a cube: -m measures, -d levels, -f filters, --totals, --order, --limit (or --json)");
  c->query->add_option("cube", c->cube, "Cube name")->required();
  c->query->add_option("-m,--measure", c->measures, "A measure (repeat)");
  c->query->add_option("-d,--dimension", c->dimensions, "A level to group by: country, time.month, product.family (repeat)");
  c->query->add_option("-f,--filter", c->filters, "A filter: 'country=France', 'country in France,Spain', 'time>=2011-01-01' (repeat)");
  c->query->add_option("--totals", c->totals, "none, rollup or cube");
  c->query->add_option("--order", c->order, "A measure or level to order by, -name for descending (repeat)");
  c->query->add_option("--limit", c->limit, "Rows (default 100)");
  c->query->add_option("--query", c->query_json, "The whole query as JSON (or @file)");
  c->sql = root->add_subcommand("sql", "Query a cube in SQL: SELECT … FROM cube …");
  c->sql->add_option("statement", c->statement, "The statement")->required();
  c->anomalies = root->add_subcommand("anomalies", "A measure's anomalous periods against its seasonal baseline");
  c->anomalies->add_option("cube", c->cube, "Cube name")->required();
  c->anomalies->add_option("--measure", c->measure, "The measure")->required();
  c->anomalies->add_option("--level", c->level, "A time level (default time.day)");
  c->anomalies->add_option("-f,--filter", c->filters, "A filter (repeat)");
  c->explain = root->add_subcommand("explain", "What moved a measure between two periods");
  c->explain->add_option("cube", c->cube, "Cube name")->required();
  c->explain->add_option("--measure", c->measure, "The measure")->required();
  c->explain->add_option("--level", c->level, "The time level of the periods, e.g. time.month")->required();
  c->explain->add_option("--from", c->from, "The first period")->required();
  c->explain->add_option("--to", c->to, "The second period")->required();
  c->explain->add_option("-d,--dimension", c->dimensions, "A level to look in (repeat; default every dimension)");
  c->explain->add_option("--limit", c->limit, "Contributors (default 100)");
  c->views = root->add_subcommand("views", "A cube's saved views");
  c->views->add_option("cube", c->cube, "Cube name")->required();
  return c;
}

std::optional<int> RunCubeCommands(CubeCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.cube);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  auto filters = [&]() -> Result<json> {
    json out = json::array();
    for (const auto& f : c.filters) {
      AIMASS_ASSIGN_OR_RETURN(json j, ParseFilter(f));
      out.push_back(j);
    }
    return out;
  };
  if (c.create->parsed()) {
    auto text = ReadFileOrStdin(c.file);
    if (!text.ok()) return Fail(text.status());
    json body = json::parse(*text, nullptr, false);
    if (!body.is_object()) return Fail(Status::BadRequest(c.file + " is not a JSON object"));
    auto res = api.Call(http::Method::kPost, kBase, &body);
    if (!res.ok()) return Fail(res.status());
    const std::string name = Cell(*res, "name");
    if (!c.no_wait) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(c.timeout_s);
      for (;;) {
        res = api.Call(http::Method::kGet, std::string(kBase) + "/" + UrlEncode(name));
        if (!res.ok()) return Fail(res.status());
        if ((*res)["state"] == "failed") return Fail(Status::Unprocessable("the cube failed to build: " + Cell(*res, "error")));
        if ((*res)["state"] == "ready") break;
        if (std::chrono::steady_clock::now() > until) return Fail(Status::DeadlineExceeded("the cube was not built in time"));
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
    if (as_json) return print(*res);
    std::cout << "Cube " << name << " " << (c.no_wait ? "created (building)" : "built: " + Cell(*res, "rows") + " rows") << "\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, kBase);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["cubes"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : (*res)["cubes"]) {
      rows.push_back({Cell(x, "name"), Cell(x["source"], "dataset"), Cell(x["source"], "built_version"), Cell(x, "state"), Cell(x, "rows"),
                      std::to_string(x["pre_aggregations"].size()), Cell(x, "built_at")});
    }
    PrintTable({"NAME", "DATASET", "VERSION", "STATE", "ROWS", "PRE-AGGREGATIONS", "BUILT"}, rows);
    return kOk;
  }
  if (c.show->parsed() || c.refresh->parsed() || c.views->parsed()) {
    auto res = c.refresh->parsed() ? api.Call(http::Method::kPost, one + "/refresh")
                                   : api.Call(http::Method::kGet, c.views->parsed() ? one + "/views" : one);
    if (!res.ok()) return Fail(res.status());
    if (c.views->parsed() && !as_json) {
      std::vector<std::vector<std::string>> rows;
      for (const auto& v : (*res)["views"]) rows.push_back({Cell(v, "name"), Cell(v, "chart"), v["query"].dump(), Cell(v, "owner")});
      PrintTable({"NAME", "CHART", "QUERY", "OWNER"}, rows);
      return kOk;
    }
    return print(*res);
  }
  if (c.del->parsed()) {
    auto res = api.Call(http::Method::kDelete, one);
    if (!res.ok()) return Fail(res.status());
    if (!as_json) std::cout << "Cube " << c.cube << " deleted\n";
    return kOk;
  }
  if (c.query->parsed() || c.sql->parsed()) {
    Result<json> res = Status::Internal("");
    if (c.sql->parsed()) {
      json body = {{"sql", c.statement}};
      res = api.Call(http::Method::kPost, std::string(kBase) + "/sql", &body);
    } else {
      json body;
      if (!c.query_json.empty()) {
        auto q = JsonArgument(c.query_json, "--query");
        if (!q.ok()) return Fail(q.status());
        body = *q;
      } else {
        auto f = filters();
        if (!f.ok()) return Fail(f.status());
        body = {{"measures", c.measures}, {"dimensions", c.dimensions}, {"filters", *f}, {"limit", c.limit}};
        if (!c.totals.empty()) body["totals"] = c.totals;
        if (!c.order.empty()) body["order"] = c.order;
      }
      res = api.Call(http::Method::kPost, one + "/query", &body);
    }
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    PrintAnswer(*res);
    return kOk;
  }
  if (c.anomalies->parsed()) {
    auto f = filters();
    if (!f.ok()) return Fail(f.status());
    json body = {{"measure", c.measure}, {"filters", *f}};
    if (!c.level.empty()) body["level"] = c.level;
    auto res = api.Call(http::Method::kPost, one + "/anomalies", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : (*res)["anomalies"]) rows.push_back({Cell(a, "time"), NumberCell(a["value"]), NumberCell(a["baseline"]), NumberCell(a["score"]), Cell(a, "direction")});
    PrintTable({"PERIOD", "VALUE", "BASELINE", "SCORE", "DIRECTION"}, rows);
    std::cout << rows.size() << " anomalies (season " << Cell(*res, "season") << ", threshold " << NumberCell((*res)["threshold"]) << ")\n";
    return kOk;
  }
  if (c.explain->parsed()) {
    json body = {{"measure", c.measure}, {"level", c.level}, {"from", c.from}, {"to", c.to}, {"limit", c.limit}};
    if (!c.dimensions.empty()) body["dimensions"] = c.dimensions;
    auto res = api.Call(http::Method::kPost, one + "/explain", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    const json& t = (*res)["total"];
    std::cout << c.measure << ": " << NumberCell(t["from"]) << " in " << Cell(*res, "from") << ", " << NumberCell(t["to"]) << " in " << Cell(*res, "to")
              << " (change " << NumberCell(t["change"]) << ")\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : (*res)["contributors"]) {
      rows.push_back({Cell(x, "dimension"), NumberCell(x["value"]), NumberCell(x["from"]), NumberCell(x["to"]), NumberCell(x["change"]),
                      x["share"].is_number() ? NumberCell(std::round(x["share"].get<double>() * 1000) / 10) + "%" : ""});
    }
    PrintTable({"LEVEL", "VALUE", "FROM", "TO", "CHANGE", "SHARE"}, rows);
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
