#include "cli/search_commands.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct SearchCommands {
  CLI::App *create = nullptr, *list = nullptr, *show = nullptr, *remove_index = nullptr, *add = nullptr,
           *remove = nullptr, *query = nullptr, *evaluate = nullptr, *sync = nullptr;
  std::string name, spec, language, dataset, file, q, filter;
  std::vector<std::string> fields, ids, facets, sort;
  int64_t limit = 10, offset = 0, k = 10;
  double hybrid = -1;
  bool update = false;
};

namespace {

constexpr const char* kBase = "/api/v1/search/indexes";

// "title:text:2", "category:keyword:facet", "price:number:sortable" → {name, {type, …}}.
Result<std::pair<std::string, json>> FieldArg(const std::string& arg) {
  std::vector<std::string> parts;
  size_t b = 0;
  for (size_t e; (e = arg.find(':', b)) != std::string::npos; b = e + 1) parts.push_back(arg.substr(b, e - b));
  parts.push_back(arg.substr(b));
  if (parts.size() < 2) return Status::BadRequest("--field is name:type[:weight|facet|sortable…]");
  json f = {{"type", parts[1]}};
  for (size_t i = 2; i < parts.size(); ++i) {
    if (parts[i] == "facet" || parts[i] == "sortable") f[parts[i]] = true;
    else if (!parts[i].empty() && std::all_of(parts[i].begin(), parts[i].end(), ::isdigit)) f["weight"] = std::stoi(parts[i]);
    else return Status::BadRequest("--field " + arg + ": '" + parts[i] + "' is a weight, facet or sortable");
  }
  return std::pair{parts[0], f};
}

}  // namespace

std::shared_ptr<SearchCommands> AddSearchCommands(CLI::App& app) {
  auto c = std::make_shared<SearchCommands>();
  auto* root = app.add_subcommand("search", "Search indexes: full-text, vector and hybrid search over documents");
  root->require_subcommand(1);
  c->create = root->add_subcommand("create", "Create an index");
  c->create->add_option("name", c->name, "Index name")->required();
  c->create->add_option("--field,-f", c->fields, "A field: name:type[:weight][:facet][:sortable] (type text, keyword, number)");
  c->create->add_option("--language,-l", c->language, "en (default), zh, auto, none or a Snowball language");
  c->create->add_option("--dataset,-d", c->dataset, "Fill it from this dataset's latest version, and follow it");
  c->create->add_option("--spec", c->spec, "The whole index as JSON or @file (the other options add to it)");
  c->list = root->add_subcommand("list", "List indexes with their document counts");
  c->show = root->add_subcommand("show", "Show an index's settings");
  c->show->add_option("name", c->name, "Index name")->required();
  c->remove_index = root->add_subcommand("delete", "Delete an index and its documents");
  c->remove_index->add_option("name", c->name, "Index name")->required();
  c->add = root->add_subcommand("add", "Add or replace documents from a JSON array or JSON lines file");
  c->add->add_option("name", c->name, "Index name")->required();
  c->add->add_option("file", c->file, "The documents (each with an id), or - for stdin")->required();
  c->add->add_flag("--update", c->update, "Merge into the stored documents instead of replacing them");
  c->remove = root->add_subcommand("remove", "Delete documents by id");
  c->remove->add_option("name", c->name, "Index name")->required();
  c->remove->add_option("ids", c->ids, "Document ids")->required();
  c->query = root->add_subcommand("query", "Search an index");
  c->query->add_option("name", c->name, "Index name")->required();
  c->query->add_option("q", c->q, "The query");
  c->query->add_option("--filter", c->filter, "A filter: category = 'books' AND price < 10");
  c->query->add_option("--facet", c->facets, "Count the values of this facet field");
  c->query->add_option("--sort", c->sort, "field:asc or field:desc");
  c->query->add_option("--limit,-n", c->limit, "Hits to show (default 10)");
  c->query->add_option("--offset", c->offset, "Hits to skip");
  c->query->add_option("--hybrid", c->hybrid, "Mix in vector search: 0 (keywords) to 1 (vectors)");
  c->evaluate = root->add_subcommand("evaluate", "Measure relevance against judgements: nDCG, MAP, P@k, recall@100");
  c->evaluate->add_option("name", c->name, "Index name")->required();
  c->evaluate->add_option("file", c->file, "JSON {queries: [{id, q, judgements: {doc: grade}}]}, or - for stdin")->required();
  c->evaluate->add_option("-k", c->k, "The cut-off of nDCG and precision (default 10)");
  c->sync = root->add_subcommand("sync", "Read the index's source dataset now");
  c->sync->add_option("name", c->name, "Index name")->required();
  return c;
}

std::optional<int> RunSearchCommands(SearchCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.name);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  if (c.create->parsed()) {
    json body = json::object();
    if (!c.spec.empty()) {
      auto spec = JsonArgument(c.spec, "--spec");
      if (!spec.ok()) return Fail(spec.status());
      body = *spec;
    }
    body["name"] = c.name;
    for (const auto& f : c.fields) {
      auto field = FieldArg(f);
      if (!field.ok()) return Fail(field.status());
      body["fields"][field->first] = field->second;
    }
    if (!c.language.empty()) body["language"] = c.language;
    if (!c.dataset.empty()) body["source"] = {{"dataset", c.dataset}};
    auto res = api.Call(http::Method::kPost, kBase, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Created index " << c.name << " (" << res->at("fields").size() << " fields, " << Cell(*res, "language") << ")\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, kBase);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["indexes"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : (*res)["indexes"]) {
      rows.push_back({Cell(i, "name"), Cell(i, "documents"), Cell(i, "terms"), Cell(i, "language"),
                      i["vector"].is_object() ? Cell(i["vector"], "source") : "", i["source"].is_object() ? Cell(i["source"], "dataset") : ""});
    }
    PrintTable({"NAME", "DOCUMENTS", "WORDS", "LANGUAGE", "VECTORS", "DATASET"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    return print(*res);
  }
  if (c.remove_index->parsed()) {
    auto res = api.Call(http::Method::kDelete, one);
    if (!res.ok()) return Fail(res.status());
    if (!as_json) std::cout << "Deleted index " << c.name << "\n";
    return kOk;
  }
  if (c.add->parsed()) {
    auto body = ReadFileOrStdin(c.file);
    if (!body.ok()) return Fail(body.status());
    // A JSON array or JSON lines: the server reads a body that is not one JSON value as lines.
    auto res = api.Send(http::Method::kPost, one + "/documents" + (c.update ? "?mode=update" : ""), std::move(*body),
                        {{"Content-Type", "application/json"}});
    if (!res.ok()) return Fail(res.status());
    json r = json::parse(res->body, nullptr, false);
    if (as_json) return print(r);
    std::cout << "Indexed " << Cell(r, "indexed") << " documents (" << Cell(r, "added") << " new, " << Cell(r, "replaced")
              << " replaced)\n";
    return kOk;
  }
  if (c.remove->parsed()) {
    json body = {{"ids", c.ids}};
    auto res = api.Call(http::Method::kPost, one + "/documents/delete", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Deleted " << Cell(*res, "deleted") << " documents\n";
    return kOk;
  }
  if (c.query->parsed()) {
    json body = {{"q", c.q}, {"limit", c.limit}, {"offset", c.offset}};
    if (!c.filter.empty()) body["filter"] = c.filter;
    if (!c.facets.empty()) body["facets"] = c.facets;
    if (!c.sort.empty()) body["sort"] = c.sort;
    if (c.hybrid >= 0) body["hybrid"] = {{"ratio", c.hybrid}};
    auto res = api.Call(http::Method::kPost, one + "/search", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::vector<std::vector<std::string>> rows;
    for (const auto& h : (*res)["hits"]) {
      std::string text;
      for (const auto& [field, snippet] : h["highlights"].items()) {
        text = snippet.get<std::string>();
        break;
      }
      if (text.empty()) text = h["document"].dump();
      char score[32];
      std::snprintf(score, sizeof score, "%.3f", h["score"].get<double>());
      rows.push_back({Cell(h, "id"), score, text.substr(0, 100)});
    }
    PrintTable({"ID", "SCORE", "MATCH"}, rows);
    std::cout << Cell(*res, "total") << " hits in " << Cell(*res, "took_ms") << " ms\n";
    for (const auto& [facet, counts] : (*res)["facets"].items()) {
      std::cout << facet << ":";
      for (const auto& [value, n] : counts.items()) std::cout << " " << value << " (" << n << ")";
      std::cout << "\n";
    }
    return kOk;
  }
  if (c.evaluate->parsed()) {
    auto text = ReadFileOrStdin(c.file);
    if (!text.ok()) return Fail(text.status());
    json body = json::parse(*text, nullptr, false);
    if (body.is_discarded()) return Fail(Status::BadRequest(c.file + " is not JSON"));
    body["k"] = c.k;
    auto res = api.Call(http::Method::kPost, one + "/evaluate", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    const std::string k = std::to_string(c.k);
    std::vector<std::vector<std::string>> rows;
    for (const std::string& m : std::vector<std::string>{"ndcg@" + k, "map", "p@" + k, "recall@100"}) {
      char v[32];
      std::snprintf(v, sizeof v, "%.4f", (*res)[m].get<double>());
      rows.push_back({m, v});
    }
    PrintTable({"MEASURE", "VALUE"}, rows);
    std::cout << Cell(*res, "queries") << " queries\n";
    return kOk;
  }
  if (c.sync->parsed()) {
    json empty = json::object();
    auto res = api.Call(http::Method::kPost, one + "/sync", &empty);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Index " << c.name << ": " << Cell(*res, "documents") << " documents from " << Cell((*res)["source"], "dataset")
              << " version " << Cell((*res)["source"], "synced_version") << "\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
