#include "cli/gw_commands.hpp"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "common/file.hpp"

namespace aimass::cli {

using nlohmann::json;

struct GwCommands {
  CLI::App* root = nullptr;
  // upstream
  CLI::App *up_add = nullptr, *up_list = nullptr, *up_show = nullptr, *up_delete = nullptr;
  // route
  CLI::App *rt_add = nullptr, *rt_list = nullptr, *rt_show = nullptr, *rt_delete = nullptr, *rt_pause = nullptr,
           *rt_resume = nullptr, *rt_degrade = nullptr;
  // consumer
  CLI::App *co_add = nullptr, *co_list = nullptr, *co_delete = nullptr, *co_key = nullptr, *co_oauth = nullptr;
  CLI::App *svc_list = nullptr, *cache_purge = nullptr, *apply = nullptr;

  std::string name, balance, upstream, service, set_json, reason, body, content_type, route, file;
  std::vector<std::string> targets, paths, methods, hosts, roles;
  bool strip_path = false, anonymous = false;
  int64_t retry_after = 0, status = 0;
};

namespace {

// "http://h:1" or "http://h:1=300" (a weight).
json Target(const std::string& spec) {
  size_t eq = spec.rfind('=');
  if (eq != std::string::npos && eq > spec.rfind('/')) {
    try {
      return {{"url", spec.substr(0, eq)}, {"weight", std::stoi(spec.substr(eq + 1))}};
    } catch (...) {
    }
  }
  return {{"url", spec}};
}

// A YAML node as JSON: mappings, sequences, and scalars as the number, boolean or string they read as.
json YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& v : n) a.push_back(YamlToJson(v));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string
      int64_t i;
      double d;
      bool b;
      if (YAML::convert<int64_t>::decode(n, i)) return i;
      if (YAML::convert<double>::decode(n, d)) return d;
      if (YAML::convert<bool>::decode(n, b)) return b;
      return s;
    }
    default:
      return nullptr;
  }
}

// Makes the gateway hold what the file says: each upstream, consumer and route is created or
// replaced (PUT), in that order so that references resolve. Nothing is deleted.
int Apply(ApiClient& api, const std::string& path, bool as_json) {
  auto text = ReadFile(path);
  if (!text.ok()) return Fail(text.status());
  json doc;
  try {
    doc = YamlToJson(YAML::Load(*text));  // JSON is YAML too
  } catch (const YAML::Exception& e) {
    return Fail(Status::BadRequest(path + ": " + e.what()));
  }
  if (!doc.is_object()) return Fail(Status::BadRequest(path + ": expected a mapping with upstreams, consumers, routes"));
  json applied = json::object();
  for (const char* kind : {"upstreams", "consumers", "routes"}) {
    if (!doc.contains(kind)) continue;
    if (!doc[kind].is_array()) return Fail(Status::BadRequest(std::string(path) + ": '" + kind + "' must be a list"));
    for (const auto& item : doc[kind]) {
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
        return Fail(Status::BadRequest(std::string(path) + ": every entry of '" + kind + "' needs a name"));
      }
      std::string name = item["name"];
      auto res = api.Call(http::Method::kPut, std::string("/api/v1/gateway/") + kind + "/" + UrlEncode(name), &item);
      if (!res.ok()) return Fail(Status(res.status().code(), std::string(kind) + " '" + name + "': " + res.status().message()));
      applied[kind].push_back(name);
    }
  }
  if (as_json) {
    std::cout << applied.dump() << "\n";
  } else {
    for (const auto& [kind, names] : applied.items()) std::cout << "Applied " << names.size() << " " << kind << "\n";
  }
  return kOk;
}

}  // namespace

std::shared_ptr<GwCommands> AddGwCommands(CLI::App& app) {
  auto c = std::make_shared<GwCommands>();
  c->root = app.add_subcommand("gw", "The API gateway: upstreams, routes, consumers, services, cache");
  c->root->require_subcommand(1);

  auto* up = c->root->add_subcommand("upstream", "Upstreams: weighted targets behind routes");
  up->require_subcommand(1);
  c->up_add = up->add_subcommand("add", "Create or replace an upstream");
  c->up_add->add_option("name", c->name, "Upstream name")->required();
  c->up_add->add_option("--target,-t", c->targets, "http://host:port[/base][=weight], repeatable")->required();
  c->up_add->add_option("--balance", c->balance, "round_robin | least_connections | consistent_hash | ewma");
  c->up_add->add_option("--set", c->set_json, "Any other fields as a JSON object");
  c->up_list = up->add_subcommand("list", "List upstreams");
  c->up_show = up->add_subcommand("show", "Show an upstream with its targets' health and circuit");
  c->up_show->add_option("name", c->name, "Upstream name")->required();
  c->up_delete = up->add_subcommand("delete", "Delete an upstream no route uses");
  c->up_delete->add_option("name", c->name, "Upstream name")->required();

  auto* rt = c->root->add_subcommand("route", "Routes: which requests go to which upstream");
  rt->require_subcommand(1);
  c->rt_add = rt->add_subcommand("add", "Create or replace a route");
  c->rt_add->add_option("name", c->name, "Route name")->required();
  c->rt_add->add_option("--path,-p", c->paths, "Path prefix, =exact path, or /a/{id}; repeatable")->required();
  c->rt_add->add_option("--upstream,-u", c->upstream, "Upstream to send to");
  c->rt_add->add_option("--service", c->service, "Discovered service to send to (instead of --upstream)");
  c->rt_add->add_option("--method,-m", c->methods, "Only these methods; repeatable");
  c->rt_add->add_option("--host", c->hosts, "Only these hosts (*.example.com); repeatable");
  c->rt_add->add_flag("--strip-path", c->strip_path, "Forward what follows the matched path");
  c->rt_add->add_flag("--anonymous", c->anonymous, "No credential needed");
  c->rt_add->add_option("--set", c->set_json, "Any other fields as a JSON object (plugins, auth, …)");
  c->rt_list = rt->add_subcommand("list", "List routes with their state");
  c->rt_show = rt->add_subcommand("show", "Show a route");
  c->rt_show->add_option("name", c->name, "Route name")->required();
  c->rt_delete = rt->add_subcommand("delete", "Delete a route");
  c->rt_delete->add_option("name", c->name, "Route name")->required();
  c->rt_pause = rt->add_subcommand("pause", "Answer 503 with Retry-After until resumed");
  c->rt_pause->add_option("name", c->name, "Route name")->required();
  c->rt_pause->add_option("--retry-after", c->retry_after, "Seconds for Retry-After (default 30)");
  c->rt_pause->add_option("--reason", c->reason, "Why, for the record");
  c->rt_resume = rt->add_subcommand("resume", "Back to normal");
  c->rt_resume->add_option("name", c->name, "Route name")->required();
  c->rt_degrade = rt->add_subcommand("degrade", "Answer with a static response or another upstream");
  c->rt_degrade->add_option("name", c->name, "Route name")->required();
  c->rt_degrade->add_option("--body", c->body, "Static response body");
  c->rt_degrade->add_option("--status", c->status, "Static response status (default 200)");
  c->rt_degrade->add_option("--content-type", c->content_type, "Static response type (default application/json)");
  c->rt_degrade->add_option("--upstream,-u", c->upstream, "Send to this upstream instead");
  c->rt_degrade->add_option("--reason", c->reason, "Why, for the record");

  auto* co = c->root->add_subcommand("consumer", "Consumers: systems calling routes with their own credentials");
  co->require_subcommand(1);
  c->co_add = co->add_subcommand("add", "Create or replace a consumer");
  c->co_add->add_option("name", c->name, "Consumer name")->required();
  c->co_add->add_option("--role,-r", c->roles, "Platform role (its permissions apply on routes); repeatable");
  c->co_add->add_option("--set", c->set_json, "Any other fields as a JSON object (jwt credentials)");
  c->co_list = co->add_subcommand("list", "List consumers");
  c->co_delete = co->add_subcommand("delete", "Delete a consumer with its keys and clients");
  c->co_delete->add_option("name", c->name, "Consumer name")->required();
  c->co_key = co->add_subcommand("key", "Make an API key for a consumer (shown once)");
  c->co_key->add_option("name", c->name, "Consumer name")->required();
  c->co_oauth = co->add_subcommand("oauth-client", "Make an OAuth 2.0 client for a consumer (secret shown once)");
  c->co_oauth->add_option("name", c->name, "Consumer name")->required();

  auto* svc = c->root->add_subcommand("service", "Discovered services");
  svc->require_subcommand(1);
  c->svc_list = svc->add_subcommand("list", "Services and their live instances");

  auto* cache = c->root->add_subcommand("cache", "The response cache");
  cache->require_subcommand(1);
  c->cache_purge = cache->add_subcommand("purge", "Drop cached responses");
  c->cache_purge->add_option("--route", c->route, "Only this route's");

  c->apply = c->root->add_subcommand("apply", "Create or replace the upstreams, consumers and routes a YAML/JSON file lists");
  c->apply->add_option("-f,--file", c->file, "The file")->required();
  return c;
}

std::optional<int> RunGwCommands(GwCommands& c, ApiClient& api, bool as_json) {
  const std::string base = "/api/v1/gateway/";
  auto call = [&](http::Method m, const std::string& path, const json* body = nullptr) -> std::optional<int> {
    auto res = api.Call(m, base + path, body);
    if (!res.ok()) return Fail(res.status());
    if (m == http::Method::kDelete) {
      if (as_json) std::cout << json{{"deleted", c.name.empty() ? c.route : c.name}}.dump() << "\n";
      else std::cout << "Deleted " << (c.name.empty() ? "cached responses" : c.name) << "\n";
      if (!res->is_null() && res->contains("purged") && !as_json) std::cout << (*res)["purged"] << " purged\n";
      return kOk;
    }
    return PrintJson(*res, as_json);
  };

  if (c.apply->parsed()) return Apply(api, c.file, as_json);

  if (c.up_add->parsed()) {
    auto body = ParseSetFields(c.set_json);
    if (!body.ok()) return Fail(body.status());
    (*body)["name"] = c.name;
    (*body)["targets"] = json::array();
    for (const auto& t : c.targets) (*body)["targets"].push_back(Target(t));
    if (!c.balance.empty()) (*body)["balance"] = c.balance;
    return call(http::Method::kPut, "upstreams/" + UrlEncode(c.name), &*body);
  }
  if (c.up_list->parsed()) {
    auto res = api.Call(http::Method::kGet, base + "upstreams");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["upstreams"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& u : (*res)["upstreams"]) {
      std::string targets;
      for (const auto& t : u["targets"]) targets += (targets.empty() ? "" : " ") + t["url"].get<std::string>() + "=" + std::to_string(t["weight"].get<int>());
      rows.push_back({u["name"], u["balance"], targets});
    }
    PrintTable({"NAME", "BALANCE", "TARGETS"}, rows);
    return kOk;
  }
  if (c.up_show->parsed()) {
    auto spec = api.Call(http::Method::kGet, base + "upstreams/" + UrlEncode(c.name));
    if (!spec.ok()) return Fail(spec.status());
    auto health = api.Call(http::Method::kGet, base + "upstreams/" + UrlEncode(c.name) + "/health");
    if (!health.ok()) return Fail(health.status());
    (*spec)["health"] = *health;
    return PrintJson(*spec, as_json);
  }
  if (c.up_delete->parsed()) return call(http::Method::kDelete, "upstreams/" + UrlEncode(c.name));

  if (c.rt_add->parsed()) {
    auto body = ParseSetFields(c.set_json);
    if (!body.ok()) return Fail(body.status());
    (*body)["name"] = c.name;
    (*body)["paths"] = c.paths;
    if (!c.upstream.empty()) (*body)["upstream"] = c.upstream;
    if (!c.service.empty()) (*body)["service"] = c.service;
    if (!c.methods.empty()) (*body)["methods"] = c.methods;
    if (!c.hosts.empty()) (*body)["hosts"] = c.hosts;
    if (c.strip_path) (*body)["strip_path"] = true;
    if (c.anonymous) (*body)["anonymous"] = true;
    return call(http::Method::kPut, "routes/" + UrlEncode(c.name), &*body);
  }
  if (c.rt_list->parsed()) {
    auto res = api.Call(http::Method::kGet, base + "routes");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["routes"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : (*res)["routes"]) {
      std::string paths;
      for (const auto& p : r["paths"]) paths += (paths.empty() ? "" : " ") + p.get<std::string>();
      std::string to = r["upstream"].is_string() ? r["upstream"].get<std::string>() : "service:" + r["service"].get<std::string>();
      rows.push_back({r["name"], paths, to, r["state"]["mode"]});
    }
    PrintTable({"NAME", "PATHS", "TO", "STATE"}, rows);
    return kOk;
  }
  if (c.rt_show->parsed()) return call(http::Method::kGet, "routes/" + UrlEncode(c.name));
  if (c.rt_delete->parsed()) return call(http::Method::kDelete, "routes/" + UrlEncode(c.name));
  if (c.rt_pause->parsed()) {
    json body = json::object();
    if (c.retry_after > 0) body["retry_after_s"] = c.retry_after;
    if (!c.reason.empty()) body["reason"] = c.reason;
    return call(http::Method::kPost, "routes/" + UrlEncode(c.name) + "/pause", &body);
  }
  if (c.rt_resume->parsed()) {
    json body = json::object();
    return call(http::Method::kPost, "routes/" + UrlEncode(c.name) + "/resume", &body);
  }
  if (c.rt_degrade->parsed()) {
    json body = json::object();
    if (!c.upstream.empty()) body["upstream"] = c.upstream;
    if (!c.body.empty()) body["body"] = c.body;
    if (c.status > 0) body["status"] = c.status;
    if (!c.content_type.empty()) body["content_type"] = c.content_type;
    if (!c.reason.empty()) body["reason"] = c.reason;
    return call(http::Method::kPost, "routes/" + UrlEncode(c.name) + "/degrade", &body);
  }

  if (c.co_add->parsed()) {
    auto body = ParseSetFields(c.set_json);
    if (!body.ok()) return Fail(body.status());
    (*body)["name"] = c.name;
    if (!c.roles.empty()) (*body)["roles"] = c.roles;
    return call(http::Method::kPut, "consumers/" + UrlEncode(c.name), &*body);
  }
  if (c.co_list->parsed()) {
    auto res = api.Call(http::Method::kGet, base + "consumers");
    if (!res.ok()) return Fail(res.status());
    if (as_json) return PrintJson((*res)["consumers"], true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& co : (*res)["consumers"]) {
      std::string roles;
      for (const auto& r : co["roles"]) roles += (roles.empty() ? "" : ",") + r.get<std::string>();
      rows.push_back({co["name"], roles, std::to_string(co["jwt"].size())});
    }
    PrintTable({"NAME", "ROLES", "JWT CREDENTIALS"}, rows);
    return kOk;
  }
  if (c.co_delete->parsed()) return call(http::Method::kDelete, "consumers/" + UrlEncode(c.name));
  if (c.co_key->parsed()) {
    json empty = json::object();
    return call(http::Method::kPost, "consumers/" + UrlEncode(c.name) + "/keys", &empty);
  }
  if (c.co_oauth->parsed()) {
    json empty = json::object();
    return call(http::Method::kPost, "consumers/" + UrlEncode(c.name) + "/oauth-clients", &empty);
  }
  if (c.svc_list->parsed()) return call(http::Method::kGet, "services");
  if (c.cache_purge->parsed()) {
    return call(http::Method::kDelete, c.route.empty() ? "cache" : "routes/" + UrlEncode(c.route) + "/cache");
  }
  return std::nullopt;
}

}  // namespace aimass::cli
