#include "server/core_api.hpp"

#include <mutex>

#include "http/json.hpp"
#include "http/metrics.hpp"

namespace aimass::server {

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
  AIMASS_RETURN_IF_ERROR(add(
      Method::kGet, "/readyz",
      "Readiness: 200 once storage is open and migrations ran; 503 while starting or draining",
      [db, ready](Request& req) {
        if (!ready->load()) {
          Response r = http::ErrorResponse(Status::Unavailable("not ready"), req.request_id);
          r.headers.Set("Retry-After", "1");
          return r;
        }
        if (!db->Query("SELECT 1").ok()) {
          Response r = http::ErrorResponse(Status::Unavailable("metadata store unreachable"), req.request_id);
          r.headers.Set("Retry-After", "1");
          return r;
        }
        return http::JsonResponse(200, {{"status", "ready"}});
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
  metrics.handler = [registry](Request&) {
    Response r;
    r.headers.Set("Content-Type", "text/plain; version=0.0.4");
    r.body = http::RenderMetrics(*registry);
    return r;
  };
  AIMASS_RETURN_IF_ERROR(router.Add(std::move(metrics)));

  // Built once, on first request, from the finished route table.
  auto doc = std::make_shared<std::once_flag>();
  auto text = std::make_shared<std::string>();
  const http::Router* table = &router;
  return add(Method::kGet, "/openapi.json", "OpenAPI 3 description of every route",
             [doc, text, table](Request&) {
               std::call_once(*doc, [&] { *text = OpenApiDocument(*table); });
               Response r;
               r.headers.Set("Content-Type", "application/json");
               r.body = *text;
               return r;
             });
}

}  // namespace aimass::server
