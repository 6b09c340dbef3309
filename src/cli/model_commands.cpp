#include "cli/model_commands.hpp"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"
#include "common/sha256.hpp"
#include "storage/tar_writer.hpp"
#include "storage/tree.hpp"

namespace aimass::cli {

using nlohmann::json;

struct ModelCommands {
  CLI::App* root = nullptr;
  CLI::App *create = nullptr, *push = nullptr, *list = nullptr, *show = nullptr,
           *versions = nullptr, *search = nullptr, *pull = nullptr, *alias = nullptr,
           *remove = nullptr;
  std::string name, description, task, framework = "", file, metadata, filter, query, order_by,
      alias_name, output, ref;
  std::vector<std::string> tags;
  int64_t version = 0;
};

namespace {

// A directory as the tar the server unpacks: its regular files, paths relative to it. Links
// are refused rather than followed, so what is pushed is what the directory holds.
Result<std::string> TarDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<storage::TarMember> members;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    const fs::directory_entry& e = *it;
    if (e.is_symlink()) return Status::BadRequest(e.path().string() + " is a link: push regular files only");
    if (e.is_directory()) continue;
    if (!e.is_regular_file()) return Status::BadRequest(e.path().string() + " is not a regular file");
    std::string rel = fs::relative(e.path(), dir).generic_string();
    bool exec = (fs::status(e.path()).permissions() & fs::perms::owner_exec) != fs::perms::none;
    members.push_back({rel, static_cast<uint64_t>(e.file_size()), exec, e.path().string()});
  }
  if (ec) return Status::Internal("cannot read " + dir + ": " + ec.message());
  if (members.empty()) return Status::BadRequest(dir + " holds no files");
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  storage::TarWriter writer(std::move(members), 0);
  std::string tar;
  for (;;) {
    AIMASS_ASSIGN_OR_RETURN(bool more, writer.Next(tar, 1 << 20));
    if (!more) return tar;
  }
}

// Downloads each listed file under `out`, checking its sha256 before it is written. Paths are
// normalised again here: a client does not lay out what a server says without checking it.
Status PullTree(ApiClient& api, const std::string& prefix, const json& files, const std::string& out) {
  namespace fs = std::filesystem;
  for (const auto& f : files) {
    AIMASS_ASSIGN_OR_RETURN(std::string rel, storage::NormalizeTreePath(f["path"].get<std::string>()));
    std::string url = prefix;
    for (size_t start = 0; start <= rel.size();) {
      size_t end = std::min(rel.find('/', start), rel.size());
      url += (start ? "/" : "") + UrlEncode(rel.substr(start, end - start));
      start = end + 1;
    }
    AIMASS_ASSIGN_OR_RETURN(auto res, api.Send(http::Method::kGet, url, "", {}));
    if (Sha256Hex(res.body) != f["sha256"].get<std::string>()) {
      return Status::Internal(rel + " does not match its sha256; stopped");
    }
    fs::path target = fs::path(out) / rel;
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Status::Internal("cannot create " + target.parent_path().string());
    std::ofstream w(target, std::ios::binary | std::ios::trunc);
    w.write(res.body.data(), static_cast<std::streamsize>(res.body.size()));
    w.close();
    if (!w) return Status::Internal("cannot write " + target.string());
    if (f.value("executable", false)) ::chmod(target.c_str(), 0755);
  }
  return Status::Ok();
}

}  // namespace

std::shared_ptr<ModelCommands> AddModelCommands(CLI::App& app) {
  auto c = std::make_shared<ModelCommands>();
  c->root = app.add_subcommand("model", "The model library");
  c->root->require_subcommand(1);

  c->create = c->root->add_subcommand("create", "Register a model");
  c->create->add_option("name", c->name, "Model name")->required();
  c->create->add_option("--description,-d", c->description, "Markdown model card (or @file)");
  c->create->add_option("--task", c->task, "Task, e.g. image-classification");
  c->create->add_option("--tag", c->tags, "Tag (repeatable)");

  c->push = c->root->add_subcommand("push", "Upload an artifact as a new version");
  c->push->add_option("name", c->name, "Model name")->required();
  c->push->add_option("file", c->file, "Artifact file, or a directory (sent as a tar)")
      ->required()
      ->check(CLI::ExistingPath);
  c->push->add_option("--framework,-f", c->framework, "torchscript, onnx, xgboost or fasttext")->required();
  c->push->add_option("--metadata,-m", c->metadata,
                      "JSON: signature, metrics, params, lineage, dependencies (or @file)");

  c->list = c->root->add_subcommand("list", "List models");
  c->show = c->root->add_subcommand("show", "Show a model, or one version with NAME --version N");
  c->show->add_option("name", c->name, "Model name")->required();
  c->show->add_option("--version,-v", c->version, "Version number");

  c->versions = c->root->add_subcommand("versions", "List a model's versions");
  c->versions->add_option("name", c->name, "Model name")->required();

  c->search = c->root->add_subcommand("search", "Search versions (see docs/registry.md)");
  c->search->add_option("filter", c->filter, "e.g. \"task = 'ner' AND metrics.f1 > 0.8\"");
  c->search->add_option("--query,-q", c->query, "Full text over name, card and tags");
  c->search->add_option("--order-by", c->order_by, "created, version, name or metrics.<key> [asc|desc]");

  c->pull = c->root->add_subcommand("pull", "Download NAME@ALIAS or NAME:VERSION, checking its sha256");
  c->pull->add_option("ref", c->ref, "NAME@ALIAS or NAME:VERSION")->required();
  c->pull->add_option("--output,-o", c->output,
                      "File (or, for a directory version, directory) to write (default: NAME-VERSION)");

  c->alias = c->root->add_subcommand("alias", "Point an alias at a version");
  c->alias->add_option("name", c->name, "Model name")->required();
  c->alias->add_option("alias", c->alias_name, "Alias, e.g. production")->required();
  c->alias->add_option("version", c->version, "Version number")->required();

  c->remove = c->root->add_subcommand("delete", "Delete a version (NAME --version N)");
  c->remove->add_option("name", c->name, "Model name")->required();
  c->remove->add_option("--version,-v", c->version, "Version number")->required();
  return c;
}

namespace {

// "@file" reads the value from a file.
Result<std::string> ValueOrFile(const std::string& v) {
  if (!v.empty() && v.front() == '@') return ReadFile(v.substr(1));
  return v;
}

std::vector<std::string> VersionRow(const json& v) {
  std::string metrics;
  for (const auto& [k, val] : v["metrics"].items()) metrics += (metrics.empty() ? "" : " ") + k + "=" + val.dump();
  return {v["model"].get<std::string>(), std::to_string(v["version"].get<int64_t>()),
          v["framework"].get<std::string>(), v["status"].get<std::string>(), metrics,
          v["created_at"].get<std::string>()};
}

int PrintVersions(const json& list, bool as_json) {
  if (as_json) {
    std::cout << list.dump() << "\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : list) rows.push_back(VersionRow(v));
  PrintTable({"MODEL", "VERSION", "FRAMEWORK", "STATUS", "METRICS", "CREATED"}, rows);
  return kOk;
}

// Every page of a list route, concatenated.
Result<json> AllPages(ApiClient& api, const std::string& path, const char* key) {
  json all = json::array();
  std::string token;
  std::string sep = path.find('?') == std::string::npos ? "?" : "&";
  do {
    auto res = api.Call(http::Method::kGet, path + sep + "page_size=1000&page_token=" + UrlEncode(token));
    if (!res.ok()) return res.status();
    for (auto& e : (*res)[key]) all.push_back(e);
    token = res->value("next_page_token", "");
  } while (!token.empty());
  return all;
}

}  // namespace

std::optional<int> RunModelCommands(ModelCommands& c, ApiClient& api, bool as_json) {
  if (!c.root->parsed()) return std::nullopt;
  const std::string base = "/api/v1/models";

  if (c.create->parsed()) {
    auto description = ValueOrFile(c.description);
    if (!description.ok()) return Fail(description.status());
    json body = {{"name", c.name}, {"description", *description}, {"tags", c.tags}};
    if (!c.task.empty()) body["task"] = c.task;
    auto res = api.Call(http::Method::kPost, base, &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) std::cout << res->dump() << "\n";
    else std::cout << "Created model " << c.name << " (" << (*res)["task"].get<std::string>() << ")\n";
    return kOk;
  }

  if (c.push->parsed()) {
    bool directory = std::filesystem::is_directory(c.file);
    auto data = directory ? TarDirectory(c.file) : ReadFile(c.file);
    if (!data.ok()) return Fail(data.status());
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Content-Type", directory ? "application/x-tar" : "application/octet-stream"}};
    if (!c.metadata.empty()) {
      auto meta = ValueOrFile(c.metadata);
      if (!meta.ok()) return Fail(meta.status());
      json parsed = json::parse(*meta, nullptr, false);
      if (!parsed.is_object()) return Fail(Status::BadRequest("--metadata must be a JSON object"));
      headers.emplace_back("X-Model-Metadata", parsed.dump());
    }
    auto res = api.Send(http::Method::kPost,
                        base + "/" + UrlEncode(c.name) + "/versions?framework=" + UrlEncode(c.framework),
                        std::move(*data), std::move(headers));
    if (!res.ok()) return Fail(res.status());
    json v = json::parse(res->body, nullptr, false);
    if (as_json) std::cout << v.dump() << "\n";
    else std::cout << "Pushed " << c.name << " version " << v["version"] << " (" << v["status"].get<std::string>()
                   << ", " << v["digest"].get<std::string>() << ")\n";
    return kOk;
  }

  if (c.list->parsed()) {
    auto all = AllPages(api, base, "models");
    if (!all.ok()) return Fail(all.status());
    if (as_json) {
      std::cout << all->dump() << "\n";
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : *all) {
      rows.push_back({m["name"], m["task"], Join(m["tags"]), m["owner"], m["updated_at"]});
    }
    PrintTable({"NAME", "TASK", "TAGS", "OWNER", "UPDATED"}, rows);
    return kOk;
  }

  if (c.show->parsed()) {
    std::string path = base + "/" + UrlEncode(c.name);
    if (c.version > 0) path += "/versions/" + std::to_string(c.version);
    auto res = api.Call(http::Method::kGet, path);
    if (!res.ok()) return Fail(res.status());
    std::cout << (as_json ? res->dump() : res->dump(2)) << "\n";
    return kOk;
  }

  if (c.versions->parsed()) {
    auto all = AllPages(api, base + "/" + UrlEncode(c.name) + "/versions", "versions");
    if (!all.ok()) return Fail(all.status());
    return PrintVersions(*all, as_json);
  }

  if (c.search->parsed()) {
    std::string path = "/api/v1/model-versions/search?filter=" + UrlEncode(c.filter);
    if (!c.query.empty()) path += "&q=" + UrlEncode(c.query);
    if (!c.order_by.empty()) path += "&order_by=" + UrlEncode(c.order_by);
    auto all = AllPages(api, path, "versions");
    if (!all.ok()) return Fail(all.status());
    return PrintVersions(*all, as_json);
  }

  if (c.pull->parsed()) {
    size_t at = c.ref.find('@'), colon = c.ref.rfind(':');
    std::string ref_path, name, label;  // ref_path: the version's URL, /artifact and /files under it
    if (at != std::string::npos) {
      name = c.ref.substr(0, at);
      label = c.ref.substr(at + 1);
      ref_path = base + "/" + UrlEncode(name) + "@" + UrlEncode(label);
    } else if (colon != std::string::npos) {
      name = c.ref.substr(0, colon);
      label = c.ref.substr(colon + 1);
      ref_path = base + "/" + UrlEncode(name) + "/versions/" + UrlEncode(label);
    } else {
      return Fail(Status::BadRequest("expected NAME@ALIAS or NAME:VERSION"));
    }
    // A directory version comes file by file, each checked against its sha256.
    auto listing = api.Call(http::Method::kGet, ref_path + "/files");
    if (!listing.ok()) return Fail(listing.status());
    if ((*listing)["kind"] == "directory") {
      std::string version = std::to_string((*listing)["version"].get<int64_t>());
      std::string out = c.output.empty() ? name + "-" + version : c.output;
      std::string prefix = base + "/" + UrlEncode(name) + "/versions/" + version + "/files/";
      auto st = PullTree(api, prefix, (*listing)["files"], out);
      if (!st.ok()) return Fail(st);
      std::string digest = (*listing)["digest"];
      if (as_json) std::cout << json{{"directory", out}, {"version", std::stoll(version)}, {"digest", digest}}.dump() << "\n";
      else std::cout << "Wrote " << out << "/ (" << name << " version " << version << ", "
                     << (*listing)["files"].size() << " files, " << digest << ")\n";
      return kOk;
    }
    auto res = api.Send(http::Method::kGet, ref_path + "/artifact", "", {});
    if (!res.ok()) return Fail(res.status());
    std::string version(res->headers.Get("X-Model-Version").value_or(label));
    std::string expected(res->headers.Get("X-Content-Sha256").value_or(""));
    if (expected.empty() || Sha256Hex(res->body) != expected) {
      return Fail(Status::Internal("the download does not match its sha256; nothing written"));
    }
    std::string out = c.output.empty() ? name + "-" + version : c.output;
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    f.write(res->body.data(), static_cast<std::streamsize>(res->body.size()));
    if (!f) return Fail(Status::Internal("cannot write " + out));
    if (as_json) std::cout << json{{"file", out}, {"version", std::stoll(version)}, {"sha256", expected}}.dump() << "\n";
    else std::cout << "Wrote " << out << " (" << name << " version " << version << ", sha256 " << expected << ")\n";
    return kOk;
  }

  if (c.alias->parsed()) {
    json body = {{"version", c.version}};
    auto res = api.Call(http::Method::kPut,
                        base + "/" + UrlEncode(c.name) + "/aliases/" + UrlEncode(c.alias_name), &body);
    if (!res.ok()) return Fail(res.status());
    if (as_json) std::cout << res->dump() << "\n";
    else std::cout << c.name << "@" << c.alias_name << " -> version " << c.version << "\n";
    return kOk;
  }

  if (c.remove->parsed()) {
    auto res = api.Call(http::Method::kDelete,
                        base + "/" + UrlEncode(c.name) + "/versions/" + std::to_string(c.version));
    if (!res.ok()) return Fail(res.status());
    if (as_json) std::cout << json{{"deleted", c.version}}.dump() << "\n";
    else std::cout << "Deleted " << c.name << " version " << c.version << "\n";
    return kOk;
  }
  return kUsage;
}

}  // namespace aimass::cli
