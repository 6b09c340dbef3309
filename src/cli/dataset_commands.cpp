#include "cli/dataset_commands.hpp"

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"

namespace aimass::cli {

using nlohmann::json;

struct DatasetCommands {
  CLI::App *create = nullptr, *push = nullptr, *pull = nullptr, *list = nullptr, *show = nullptr, *versions = nullptr,
           *profile = nullptr, *drift = nullptr, *alias = nullptr, *expect = nullptr, *validation = nullptr;
  std::string name, file, version = "latest", description, kind = "table", append, schema, message, format, output,
                    against, alias_name, lineage;
  bool no_wait = false;
};

namespace {

constexpr const char* kBase = "/api/v1/datasets";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The Content-Type of a file by --format or its extension (.csv, .tsv, .jsonl/.ndjson, each
// optionally .gz).
Result<std::string> ContentType(const std::string& file, const std::string& format) {
  std::string f = format;
  std::string base = EndsWith(file, ".gz") ? file.substr(0, file.size() - 3) : file;
  if (f.empty()) {
    if (EndsWith(base, ".csv")) f = "csv";
    else if (EndsWith(base, ".tsv") || EndsWith(base, ".tab")) f = "tsv";
    else if (EndsWith(base, ".jsonl") || EndsWith(base, ".ndjson")) f = "jsonl";
  }
  if (f == "csv") return std::string("text/csv");
  if (f == "tsv") return std::string("text/tab-separated-values");
  if (f == "jsonl") return std::string("application/x-ndjson");
  return Status::BadRequest("say --format csv, tsv or jsonl (the file's name does not tell)");
}

Result<json> WaitBuilt(ApiClient& api, const std::string& path) {
  for (int i = 0;; ++i) {
    AIMASS_ASSIGN_OR_RETURN(json v, api.Call(http::Method::kGet, path));
    if (v.value("status", "") != "building") return v;
    std::this_thread::sleep_for(std::chrono::milliseconds(i < 20 ? 50 : 250));
  }
}

std::string Shown(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "";
  if (j[key].is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", j[key].get<double>());
    return buf;
  }
  return Cell(j, key);
}

}  // namespace

std::shared_ptr<DatasetCommands> AddDatasetCommands(CLI::App& app) {
  auto c = std::make_shared<DatasetCommands>();
  auto* root = app.add_subcommand("dataset", "Datasets: versions of tables, their profiles, drift and expectations");
  root->require_subcommand(1);
  c->create = root->add_subcommand("create", "Create a dataset");
  c->create->add_option("name", c->name, "Dataset name")->required();
  c->create->add_option("--description,-d", c->description, "What it holds");
  c->create->add_option("--kind", c->kind, "table (default) or files");
  c->push = root->add_subcommand("push", "Upload a CSV, TSV or JSON Lines file (optionally .gz) as a new version");
  c->push->add_option("name", c->name, "Dataset name")->required();
  c->push->add_option("file", c->file, "The file")->required()->check(CLI::ExistingFile);
  c->push->add_option("--format", c->format, "csv, tsv or jsonl (default: from the file's extension)");
  c->push->add_option("--append", c->append, "Add the rows to this version or alias (e.g. latest)");
  c->push->add_option("--schema", c->schema, "Declared schema: JSON list of {name,type,nullable}, or @file");
  c->push->add_option("--lineage", c->lineage, "Lineage to record: a JSON object, or @file");
  c->push->add_option("--message,-m", c->message, "What changed");
  c->push->add_flag("--no-wait", c->no_wait, "Return once stored, without waiting for the profile");
  c->pull = root->add_subcommand("pull", "Download a version as CSV or JSON Lines");
  c->pull->add_option("name", c->name, "Dataset name")->required();
  c->pull->add_option("version", c->version, "Version or alias (default latest)");
  c->pull->add_option("--format", c->format, "csv (default) or jsonl");
  c->pull->add_option("--output,-o", c->output, "File to write (default NAME-vN.FORMAT; - for stdout)");
  c->list = root->add_subcommand("list", "List datasets");
  c->show = root->add_subcommand("show", "Show a dataset, or one version of it");
  c->show->add_option("name", c->name, "Dataset name")->required();
  c->show->add_option("version", c->version, "Version or alias");
  c->versions = root->add_subcommand("versions", "List a dataset's versions, newest first");
  c->versions->add_option("name", c->name, "Dataset name")->required();
  c->profile = root->add_subcommand("profile", "A version's profile, a line per column");
  c->profile->add_option("name", c->name, "Dataset name")->required();
  c->profile->add_option("version", c->version, "Version or alias (default latest)");
  c->drift = root->add_subcommand("drift", "Drift of a version against another, per column");
  c->drift->add_option("name", c->name, "Dataset name")->required();
  c->drift->add_option("version", c->version, "Version or alias (default latest)");
  c->drift->add_option("--against", c->against, "The version or alias to compare with")->required();
  c->alias = root->add_subcommand("alias", "Point an alias at a version");
  c->alias->add_option("name", c->name, "Dataset name")->required();
  c->alias->add_option("alias", c->alias_name, "Alias")->required();
  c->alias->add_option("version", c->version, "Version number")->required();
  c->expect = root->add_subcommand("expect", "Set the expectation suite (Great Expectations' JSON file)");
  c->expect->add_option("name", c->name, "Dataset name")->required();
  c->expect->add_option("file", c->file, "The suite, a JSON file")->required()->check(CLI::ExistingFile);
  c->validation = root->add_subcommand("validation", "The expectation results of a version");
  c->validation->add_option("name", c->name, "Dataset name")->required();
  c->validation->add_option("version", c->version, "Version or alias (default latest)");
  return c;
}

std::optional<int> RunDatasetCommands(DatasetCommands& c, ApiClient& api, bool as_json) {
  const std::string one = std::string(kBase) + "/" + UrlEncode(c.name);
  const std::string ver = one + "/versions/" + UrlEncode(c.version);
  auto print = [&](const json& j) { return PrintJson(j, as_json); };
  auto value_or_file = [](const std::string& v) -> Result<std::string> {
    if (!v.empty() && v.front() == '@') return ReadFile(v.substr(1));
    return v;
  };
  if (c.create->parsed()) {
    json body = {{"name", c.name}, {"description", c.description}, {"kind", c.kind}};
    auto res = api.Call(http::Method::kPost, kBase, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Created dataset " << c.name << "\n";
    return kOk;
  }
  if (c.push->parsed()) {
    auto type = ContentType(c.file, c.format);
    if (!type.ok()) return Fail(type.status());
    auto data = ReadFile(c.file);
    if (!data.ok()) return Fail(data.status());
    std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", *type}};
    if (EndsWith(c.file, ".gz")) headers.emplace_back("Content-Encoding", "gzip");
    json meta = json::object();
    if (!c.schema.empty()) {
      auto text = value_or_file(c.schema);
      if (!text.ok()) return Fail(text.status());
      meta["schema"] = json::parse(*text, nullptr, false);
      if (!meta["schema"].is_array()) return Fail(Status::BadRequest("--schema must be a JSON list of columns"));
    }
    if (!c.lineage.empty()) {
      auto text = value_or_file(c.lineage);
      if (!text.ok()) return Fail(text.status());
      meta["lineage"] = json::parse(*text, nullptr, false);
      if (!meta["lineage"].is_object()) return Fail(Status::BadRequest("--lineage must be a JSON object"));
    }
    if (!c.message.empty()) meta["message"] = c.message;
    if (!meta.empty()) headers.emplace_back("X-Dataset-Metadata", meta.dump());
    std::string path = one + "/versions" + (c.append.empty() ? "" : "?append=" + UrlEncode(c.append));
    auto res = api.Send(http::Method::kPost, path, std::move(*data), std::move(headers));
    if (!res.ok()) return Fail(res.status());
    json v = json::parse(res->body, nullptr, false);
    if (!c.no_wait && v.value("status", "") == "building") {
      auto done = WaitBuilt(api, one + "/versions/" + std::to_string(v["version"].get<int64_t>()));
      if (!done.ok()) return Fail(done.status());
      done->emplace("created", v.value("created", true));
      v = std::move(*done);
    }
    if (as_json) return print(v);
    std::cout << (v.value("created", true) ? "Pushed " : "Unchanged: ") << c.name << " version " << v["version"] << " ("
              << Cell(v, "row_count") << " rows, " << Cell(v, "status")
              << (v["validation"].is_string() ? ", expectations " + v["validation"].get<std::string>() : "") << ", "
              << Cell(v, "digest") << ")\n";
    return kOk;
  }
  if (c.pull->parsed()) {
    std::string format = c.format.empty() ? "csv" : c.format;
    auto v = api.Call(http::Method::kGet, ver);
    if (!v.ok()) return Fail(v.status());
    auto res = api.Send(http::Method::kGet, ver + "/download?format=" + UrlEncode(format), "", {});
    if (!res.ok()) return Fail(res.status());
    std::string out = c.output.empty() ? c.name + "-v" + Cell(*v, "version") + "." + format : c.output;
    if (out == "-") {
      std::cout << res->body << std::flush;
      return kOk;
    }
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    f.write(res->body.data(), static_cast<std::streamsize>(res->body.size()));
    if (!f) return Fail(Status::Internal("cannot write " + out));
    if (as_json) return print(json{{"file", out}, {"version", (*v)["version"]}, {"rows", (*v)["row_count"]}});
    std::cout << "Wrote " << out << " (" << c.name << " version " << Cell(*v, "version") << ", " << Cell(*v, "row_count")
              << " rows)\n";
    return kOk;
  }
  if (c.list->parsed()) {
    auto res = api.Call(http::Method::kGet, std::string(kBase) + "?page_size=1000");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["datasets"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : (*res)["datasets"]) {
      rows.push_back({Cell(d, "name"), Cell(d, "kind"), Cell(d, "latest_version"), Cell(d, "row_count"), Cell(d, "owner"),
                      Cell(d, "updated_at")});
    }
    PrintTable({"NAME", "KIND", "LATEST", "ROWS", "OWNER", "UPDATED"}, rows);
    return kOk;
  }
  if (c.show->parsed()) {
    bool version_given = c.show->count("version") > 0;
    auto res = api.Call(http::Method::kGet, version_given ? ver : one);
    if (!res.ok()) return Fail(res.status());
    return print(*res);
  }
  if (c.versions->parsed()) {
    auto res = api.Call(http::Method::kGet, one + "/versions?page_size=1000");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print((*res)["versions"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : (*res)["versions"]) {
      rows.push_back({Cell(v, "version"), Cell(v, "status"), Cell(v, "row_count"), Cell(v, "byte_size"), Cell(v, "parent"),
                      Cell(v, "validation"), Cell(v, "created_by"), Cell(v, "created_at")});
    }
    PrintTable({"VERSION", "STATUS", "ROWS", "BYTES", "PARENT", "EXPECTATIONS", "BY", "CREATED"}, rows);
    return kOk;
  }
  if (c.profile->parsed()) {
    auto res = WaitBuilt(api, ver);
    if (!res.ok()) return Fail(res.status());
    auto p = api.Call(http::Method::kGet, ver + "/profile");
    if (!p.ok()) return Fail(p.status());
    if (as_json) return print(*p);
    std::vector<std::vector<std::string>> rows;
    for (const auto& col : (*p)["columns"]) {
      std::string top = col["top"].empty() ? "" : col["top"][0]["value"].dump() + " ×" + Cell(col["top"][0], "count");
      rows.push_back({Cell(col, "name"), Cell(col, "type"), Cell(col, "count"), Cell(col, "missing"), Cell(col, "distinct"),
                      Shown(col, "min"), Shown(col, "max"), Shown(col, "mean"), Shown(col, "std"), top});
    }
    PrintTable({"COLUMN", "TYPE", "COUNT", "MISSING", "DISTINCT", "MIN", "MAX", "MEAN", "STD", "TOP"}, rows);
    std::cout << Cell(*p, "row_count") << " rows, " << Cell(*p, "duplicate_rows") << " duplicate rows\n";
    return kOk;
  }
  if (c.drift->parsed()) {
    auto res = api.Call(http::Method::kGet, ver + "/drift?against=" + UrlEncode(c.against));
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::vector<std::vector<std::string>> rows;
    for (const auto& col : (*res)["columns"]) {
      rows.push_back({Cell(col, "name"), Cell(col, "type"), Shown(col, "psi"), Shown(col, "ks_statistic"),
                      Shown(col, "ks_p_value"), col.value("drifted", false) ? "yes" : "no"});
    }
    PrintTable({"COLUMN", "TYPE", "PSI", "KS", "KS P", "DRIFTED"}, rows);
    return kOk;
  }
  if (c.alias->parsed()) {
    json body;
    try {
      body = {{"version", std::stoll(c.version)}};
    } catch (const std::exception&) {
      return Fail(Status::BadRequest("the version is a number"));
    }
    auto res = api.Call(http::Method::kPut, one + "/aliases/" + UrlEncode(c.alias_name), &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << c.name << "@" << c.alias_name << " -> version " << c.version << "\n";
    return kOk;
  }
  if (c.expect->parsed()) {
    auto text = ReadFile(c.file);
    if (!text.ok()) return Fail(text.status());
    json suite = json::parse(*text, nullptr, false);
    if (suite.is_discarded()) return Fail(Status::BadRequest(c.file + " is not JSON"));
    auto res = api.Call(http::Method::kPut, one + "/expectations", &suite);
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::cout << "Set " << (*res)["expectations"].size() << " expectations on " << c.name
              << " (they run on every new version)\n";
    return kOk;
  }
  if (c.validation->parsed()) {
    auto res = api.Call(http::Method::kGet, ver + "/validation");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return print(*res);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : (*res)["results"]) {
      const json& cfg = r["expectation_config"];
      rows.push_back({r.value("success", false) ? "pass" : "FAIL", Cell(cfg, "expectation_type"),
                      cfg["kwargs"].value("column", ""), Shown(r["result"], "unexpected_count"),
                      r["result"].contains("observed_value") ? r["result"]["observed_value"].dump() : ""});
    }
    PrintTable({"RESULT", "EXPECTATION", "COLUMN", "UNEXPECTED", "OBSERVED"}, rows);
    const json& s = (*res)["statistics"];
    std::cout << Cell(s, "successful_expectations") << " of " << Cell(s, "evaluated_expectations") << " passed\n";
    return (*res).value("success", false) ? kOk : kError;
  }
  return std::nullopt;
}

}  // namespace aimass::cli
