#include "collector/api.hpp"

#include "http/json.hpp"

namespace aimass::collector {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {
constexpr uint64_t kMaxPushBytes = 64ull << 20;
}  // namespace

Status RegisterRoutes(http::Router& router, Collectors& collectors) {
  Collectors& c = collectors;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "collectors", std::move(summary), std::move(h)));
    return routes.back();
  };
  add(Method::kPost, "/api/v1/collectors", "collectors:write",
      "Create a collector {name, dataset, source:{type: file_tail|directory|http|sql|mq, …}, batch:{max_rows, max_wait_s}, schedule, schema, paused}",
      [&c](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(CollectorSpec spec, ParseCollectorSpec(body));
        bool paused = body.contains("paused") && body["paused"].is_boolean() && body["paused"].get<bool>();
        HTTP_TRY(Json j, c.Create(spec, paused, *req.principal));
        Response r = http::JsonResponse(201, j);
        r.headers.Set("Location", "/api/v1/collectors/" + spec.name);
        return r;
      });
  add(Method::kGet, "/api/v1/collectors", "collectors:read", "List collectors with their state, rates and lag",
      [&c](Request& req) -> Response {
        HTTP_TRY(Json list, c.List());
        return http::JsonResponse(200, {{"collectors", list}});
      });
  add(Method::kGet, "/api/v1/collectors/{name}", "collectors:read",
      "A collector: its document, state, rows, rate, lag, offset, last error, rejected count", [&c](Request& req) -> Response {
        HTTP_TRY(Json j, c.Get(req.Param("name")));
        return http::JsonResponse(200, j);
      });
  add(Method::kDelete, "/api/v1/collectors/{name}", "collectors:write", "Stop and delete a collector (its dataset stays)",
      [&c](Request& req) -> Response {
        HTTP_TRY_STATUS(c.Delete(req.Param("name")));
        return http::NoContent();
      });
  for (bool pause : {true, false}) {
    add(Method::kPost, std::string("/api/v1/collectors/{name}/") + (pause ? "pause" : "resume"), "collectors:write",
        pause ? "Pause a collector (an http collector still takes pushes into its spool)" : "Resume a paused collector",
        [&c, pause](Request& req) -> Response {
          HTTP_TRY(Json j, c.SetPaused(req.Param("name"), pause));
          return http::JsonResponse(200, j);
        });
  }
  add(Method::kGet, "/api/v1/collectors/{name}/rejected", "collectors:read",
      "Rows the collector could not store, newest first: {row, reason, position, time}", [&c](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(Json list, c.Rejected(req.Param("name"), page.size, page.offset));
        return http::JsonResponse(200, {{"rejected", list}, {"next_page_token", http::NextPageToken(page, list.size())}});
      });
  add(Method::kPost, "/api/v1/collect/{name}", "collectors:push",
      "Push rows to an http collector: JSON lines (or a JSON array of objects); durable when answered",
      [&c](Request& req) -> Response {
        HTTP_TRY(PushResult r, c.Push(req.Param("name"), req.body));
        return http::JsonResponse(200, {{"accepted", r.accepted}, {"rejected", r.rejected}});
      })
      .max_body_bytes = kMaxPushBytes;
  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::collector
