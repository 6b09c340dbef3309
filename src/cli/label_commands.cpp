#include "cli/label_commands.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"

namespace aimass::cli {

using nlohmann::json;

struct LabelCommands {
  CLI::App *projects = nullptr, *create = nullptr, *show = nullptr, *next = nullptr, *annotate = nullptr, *accept = nullptr,
           *agreement = nullptr, *exp = nullptr, *del = nullptr;
  std::string project, dataset, version = "latest", kind = "single", classes, text_column, order = "sequential", task, value, include = "accepted",
                                 target;
  int64_t overlap = 1;
};

namespace {

constexpr const char* kBase = "/api/v1/labelling/projects";

json SplitList(const std::string& s) {
  json out = json::array();
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = s.find(',', at);
    const std::string part = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

}  // namespace

std::shared_ptr<LabelCommands> AddLabelCommands(CLI::App& app) {
  auto c = std::make_shared<LabelCommands>();
  auto* root = app.add_subcommand("label", "Labelling projects: create, label in the terminal, agreement, export");
  root->require_subcommand(1);
  c->projects = root->add_subcommand("projects", "List the labelling projects with their progress");
  c->create = root->add_subcommand("create", "Create a labelling project over a dataset version");
  c->create->add_option("project", c->project, "Project name")->required();
  c->create->add_option("--dataset", c->dataset, "The dataset")->required();
  c->create->add_option("--version", c->version, "Its version, alias or latest (default)");
  c->create->add_option("--classes", c->classes, "The classes, comma-separated")->required();
  c->create->add_option("--kind", c->kind, "single (default), multi, boxes or spans");
  c->create->add_option("--text-column", c->text_column, "The column holding the text");
  c->create->add_option("--overlap", c->overlap, "Annotators per item (default 1)");
  c->create->add_option("--order", c->order, "sequential (default), random or uncertainty (active learning)");
  c->show = root->add_subcommand("show", "A project: settings and progress (JSON)");
  c->show->add_option("project", c->project, "Project name")->required();
  c->next = root->add_subcommand("next", "Your next task: its id, text or data, and any pre-label");
  c->next->add_option("project", c->project, "Project name")->required();
  c->annotate = root->add_subcommand("annotate", "Label a task: a class, or a JSON value (multi, boxes, spans)");
  c->annotate->add_option("project", c->project, "Project name")->required();
  c->annotate->add_option("task", c->task, "Task id")->required();
  c->annotate->add_option("value", c->value, "The class, or JSON")->required();
  c->accept = root->add_subcommand("accept", "Accept every task whose labels agree");
  c->accept->add_option("project", c->project, "Project name")->required();
  c->agreement = root->add_subcommand("agreement", "Agreement between annotators: Fleiss' and Cohen's kappa");
  c->agreement->add_option("project", c->project, "Project name")->required();
  c->exp = root->add_subcommand("export", "Export the accepted labels as a new dataset version");
  c->exp->add_option("project", c->project, "Project name")->required();
  c->exp->add_option("--dataset", c->target, "The dataset to write (default the project's export_dataset)");
  c->exp->add_option("--include", c->include, "accepted (default) or agreed");
  c->del = root->add_subcommand("delete", "Delete a project and its labels");
  c->del->add_option("project", c->project, "Project name")->required();
  return c;
}

std::optional<int> RunLabelCommands(LabelCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.project);
  if (c.projects->parsed()) {
    auto res = api.Call(http::Method::kGet, kBase);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["projects"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : (*res)["projects"]) {
      rows.push_back({Cell(p, "name"), Cell(p["source"], "dataset") + " v" + Cell(p["source"], "version"), Cell(p["schema"], "kind"),
                      Cell(p, "items"), Cell(p, "overlap"), Cell(p, "order")});
    }
    PrintTable({"NAME", "SOURCE", "KIND", "ITEMS", "OVERLAP", "ORDER"}, rows);
    return kOk;
  }
  if (c.create->parsed()) {
    json schema = {{"kind", c.kind}, {"classes", SplitList(c.classes)}};
    if (!c.text_column.empty()) schema["text_column"] = c.text_column;
    json body = {{"name", c.project}, {"dataset", c.dataset}, {"version", c.version}, {"schema", schema}, {"overlap", c.overlap}, {"order", c.order}};
    auto res = api.Call(http::Method::kPost, kBase, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Project " << c.project << " created: " << Cell(*res, "items") << " items\n";
    return kOk;
  }
  if (c.show->parsed()) {
    auto res = api.Call(http::Method::kGet, one);
    if (!res.ok()) return Fail(res.status());
    return PrintJson(*res, as_json);
  }
  if (c.next->parsed()) {
    auto res = api.Call(http::Method::kGet, one + "/tasks/next");
    if (!res.ok()) return Fail(res.status());
    if (!res->contains("id")) {  // 204: nothing left
      std::cout << "No task left for you\n";
      return kOk;
    }
    if (as_json) return PrintJson(*res, true);
    std::cout << "Task " << (*res)["id"] << "\n" << (res->contains("text") ? Cell(*res, "text") : (*res)["data"].dump()) << "\n";
    if (res->contains("prelabel")) {
      std::cout << "Pre-label (" << Cell((*res)["prelabel"], "source") << ", " << NumberCell((*res)["prelabel"]["score"])
                << "): " << Cell((*res)["prelabel"], "value") << "\n";
    }
    return kOk;
  }
  if (c.annotate->parsed()) {
    json value = json::parse(c.value, nullptr, false);
    if (value.is_discarded() || value.is_number() || value.is_boolean()) value = c.value;  // a class as it is
    json body = {{"value", value}};
    auto res = api.Call(http::Method::kPost, one + "/tasks/" + UrlEncode(c.task) + "/labels", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Task " << c.task << " labelled " << Cell(*res, "value") << "\n";
    return kOk;
  }
  if (c.accept->parsed()) {
    auto res = api.Call(http::Method::kPost, one + "/accept");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << Cell(*res, "accepted") << " tasks accepted\n";
    return kOk;
  }
  if (c.agreement->parsed()) {
    auto res = api.Call(http::Method::kGet, one + "/agreement");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    const json& f = (*res)["fleiss"];
    std::cout << "Fleiss' kappa " << (f.is_null() ? "-" : NumberCell(f["kappa"]) + " over " + Cell(f, "items") + " items, " + Cell(f, "raters") + " raters each")
              << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : (*res)["pairs"]) rows.push_back({Cell(p, "a"), Cell(p, "b"), Cell(p, "items"), NumberCell(p["kappa"])});
    PrintTable({"ANNOTATOR", "ANNOTATOR", "ITEMS", "COHEN'S KAPPA"}, rows);
    return kOk;
  }
  if (c.exp->parsed()) {
    json body = {{"include", c.include}};
    if (!c.target.empty()) body["dataset"] = c.target;
    auto res = api.Call(http::Method::kPost, one + "/export", &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson(*res, true);
    std::cout << "Exported " << Cell(*res, "rows") << " labels to " << Cell(*res, "dataset") << " version " << Cell(*res, "version") << "\n";
    return kOk;
  }
  if (c.del->parsed()) {
    auto res = api.Call(http::Method::kDelete, one);
    if (!res.ok()) return Fail(res.status());
    if (!as_json) std::cout << "Project " << c.project << " deleted\n";
    return kOk;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
