#include "server/core_api.hpp"

#include <nlohmann/json.hpp>

#include <mutex>

#include "http/json.hpp"
#include "http/metrics.hpp"

namespace aimass::server {

namespace {
// /docs: one self-contained page (no outside scripts: the platform runs offline) that reads
// /openapi.json and lists every operation by tag with its summary and permission.
constexpr const char* kDocsPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AI Mass API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.op{margin:.35rem 0;padding:.35rem .6rem;border-left:4px solid #999;background:#fafafa}
.m{display:inline-block;min-width:4.5rem;font-weight:600;font-family:monospace}
.GET{border-color:#2a7}.POST{border-color:#27c}.PUT{border-color:#c82}.PATCH{border-color:#a5c}.DELETE{border-color:#c33}
code{font-family:monospace}.s{color:#555}#q{width:100%;padding:.4rem;font-size:1rem}
</style></head><body>
<h1 id="title">AI Mass API</h1>
<p>The same document as JSON: <a href="/openapi.json">/openapi.json</a>. Filter:</p>
<input id="q" placeholder="path, method, tag or words">
<div id="out">Loading…</div>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {
  document.getElementById('title').textContent = (doc.info && doc.info.title || 'API') + ' ' + (doc.info && doc.info.version || '');
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths || {}))
    for (const [method, op] of Object.entries(item))
      if (typeof op === 'object' && op) ops.push({path, method: method.toUpperCase(), op, tag: (op.tags || ['other'])[0]});
  const out = document.getElementById('out');
  const render = q => {
    out.textContent = '';
    const byTag = {};
    for (const o of ops) {
      const text = (o.path + ' ' + o.method + ' ' + o.tag + ' ' + (o.op.summary || '')).toLowerCase();
      if (!q || text.includes(q)) (byTag[o.tag] = byTag[o.tag] || []).push(o);
    }
    for (const tag of Object.keys(byTag).sort()) {
      const h = document.createElement('h2'); h.textContent = tag; out.appendChild(h);
      for (const o of byTag[tag]) {
        const d = document.createElement('div'); d.className = 'op ' + o.method;
        const m = document.createElement('span'); m.className = 'm'; m.textContent = o.method;
        const p = document.createElement('code'); p.textContent = o.path;
        const s = document.createElement('div'); s.className = 's';
        s.textContent = (o.op.summary || '') + (o.op['x-required-permission'] ? '  [' + o.op['x-required-permission'] + ']' : '');
        d.append(m, p, s); out.appendChild(d);
      }
    }
  };
  render('');
  document.getElementById('q').addEventListener('input', e => render(e.target.value.toLowerCase()));
}).catch(e => { document.getElementById('out').textContent = 'Cannot read /openapi.json: ' + e; });
</script></body></html>
)html";
}  // namespace


using http::Method;
using http::Request;
using http::Response;

Status RegisterCoreRoutes(http::Router& router, const CoreDeps& deps) {
  // Anonymous routes; run_inline only for those that never touch the metadata store.
  auto add = [&](Method m, const char* pattern, const char* summary, http::Handler h,
                 bool run_inline = true) {
    http::Route r;
    r.method = m;
    r.pattern = pattern;
    r.anonymous = true;
    r.run_inline = run_inline;
    r.tag = "system";
    r.summary = summary;
    r.handler = std::move(h);
    return router.Add(std::move(r));
  };

  AIMASS_RETURN_IF_ERROR(add(Method::kGet, "/healthz", "Liveness: 200 while the process runs",
                             [](Request&) {
                               Response r;
                               r.headers.Set("Content-Type", "application/json");
                               r.body = R"({"status":"ok"})";
                               return r;
                             }));

  storage::Db* db = deps.db;
  const std::atomic<bool>* ready = deps.ready;
  auto modules = deps.modules;
  AIMASS_RETURN_IF_ERROR(add(
      Method::kGet, "/readyz",
      "Readiness: 200 once every module is open and started; 503 while starting or draining, or "
      "when a module or the metadata store cannot serve. `modules` gives each module's state; "
      "`target` the modules served here, `libraries` those opened here for them, `remote` those "
      "other processes serve (with their paths)",
      [db, ready, modules, placement = http::Json{{"target", deps.served}, {"libraries", deps.libraries},
                                                   {"remote", deps.remote}}](Request& req) {
        bool all_ready = true;
        http::Json states = http::Json::object();
        if (modules) {
          for (auto& [name, state] : modules(&all_ready)) states[name] = state;
        }
        Status st;
        if (!ready->load()) {
          st = Status::Unavailable("not ready");
        } else if (!all_ready) {
          st = Status::Unavailable("a module is not ready");
        } else if (!db->Query("SELECT 1").ok()) {
          st = Status::Unavailable("metadata store unreachable");
        }
        if (!st.ok()) {
          Response r = http::ErrorResponse(st, req.request_id);
          http::Json body = http::Json::parse(r.body);
          body["modules"] = std::move(states);
          body.update(placement);
          r.body = body.dump();
          return r;
        }
        http::Json body = {{"status", "ready"}, {"modules", std::move(states)}};
        body.update(placement);
        return http::JsonResponse(200, body);
      },
      /*run_inline=*/false));

  // Metrics reveal what the platform is used for: a scraper authenticates with an API key of
  // a role holding metrics:read (docs/guide/observability.md).
  auto registry = deps.metrics;
  http::Route metrics;
  metrics.method = Method::kGet;
  metrics.pattern = "/metrics";
  metrics.permission = "metrics:read";  // authentication reads the store: not on an I/O thread
  metrics.tag = "system";
  metrics.summary = "Prometheus metrics (text format); needs metrics:read";
  const module::Hooks* hooks = deps.hooks;
  metrics.handler = [registry, hooks](Request&) {
    if (hooks) {
      for (const auto& refresh : hooks->before_scrape) refresh();
    }
    Response r;
    r.headers.Set("Content-Type", "text/plain; version=0.0.4");
    r.body = http::RenderMetrics(*registry);
    return r;
  };
  AIMASS_RETURN_IF_ERROR(router.Add(std::move(metrics)));

  if (deps.traffic) {
    auto traffic = deps.traffic;
    auto history = [traffic](Request&) {
      nlohmann::json points = nlohmann::json::array();
      for (const auto& p : traffic->Points()) {
        points.push_back({{"at", p.at_ms},
                          {"requests_per_s", p.requests_per_s},
                          {"error_rate", p.error_rate},
                          {"p50_ms", p.p50_ms},
                          {"p99_ms", p.p99_ms}});
      }
      return http::JsonResponse(200, {{"interval_s", traffic->interval().count()}, {"points", points}});
    };
    AIMASS_RETURN_IF_ERROR(router.Add(http::MakeRoute(
        Method::kGet, "/api/v1/metrics/history", "metrics:read", "system",
        "This process's HTTP traffic over the last hour: per interval, requests/s, 5xx rate, p50 and p99", history)));
  }

  // Built once, on first request, from the finished route table.
  auto doc = std::make_shared<std::once_flag>();
  auto text = std::make_shared<std::string>();
  const http::Router* table = &router;
  AIMASS_RETURN_IF_ERROR(add(Method::kGet, "/openapi.json",
                             "OpenAPI 3 description of every route, and of the services behind the gateway",
                             [doc, text, table, hooks](Request&) {
                               std::call_once(*doc, [&] { *text = OpenApiDocument(*table); });
                               Response r;
                               r.headers.Set("Content-Type", "application/json");
                               r.body = *text;
                               if (!hooks) return r;
                               // The services' paths change at run time; the platform's never do.
                               nlohmann::json full;
                               for (const auto& services : hooks->openapi_paths) {
                                 auto extra = nlohmann::json::parse(services(), nullptr, false);
                                 if (!extra.is_object() || extra.empty()) continue;
                                 if (full.is_null()) full = nlohmann::json::parse(*text);
                                 for (auto& [path, item] : extra.items()) {
                                   if (!full["paths"].contains(path)) full["paths"][path] = item;
                                 }
                               }
                               if (!full.is_null()) r.body = full.dump();
                               return r;
                             }));
  return add(Method::kGet, "/docs", "The API reference for people: /openapi.json rendered", [](Request&) {
    Response r;
    r.headers.Set("Content-Type", "text/html; charset=utf-8");
    r.headers.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'");
    r.body = kDocsPage;
    return r;
  });
}

}  // namespace aimass::server
