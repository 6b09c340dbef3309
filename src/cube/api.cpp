#include "cube/api.hpp"

#include "http/json.hpp"

namespace aimass::cube {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

std::string P(const Request& req, const char* name) { return std::string(req.Param(name)); }

}  // namespace

Status RegisterRoutes(http::Router& router, CubeService& service) {
  CubeService& s = service;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "cube", std::move(summary), std::move(h)));
  };
  const std::string cube = "/api/v1/cubes/{name}";

  add(Method::kPost, "/api/v1/cubes", "cubes:write",
      "Create a cube over a dataset {name, source: {dataset, version}, dimensions: [{name, column, type, hierarchy}], "
      "measures: [{name, agg, column | expr, filter, approximate} | {name, formula}], pre_aggregations: [{name, dimensions}]}; "
      "it is built in the background",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Create(body, *req.principal));
        Response r = http::JsonResponse(201, b);
        r.headers.Set("Location", "/api/v1/cubes/" + b["name"].get<std::string>());
        return r;
      });
  add(Method::kGet, "/api/v1/cubes", "cubes:read", "List the cubes with their state, rows and pre-aggregations",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.List());
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, cube, "cubes:read", "A cube: definition, levels, state, rows, memory, pre-aggregations", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.Get(P(req, "name")));
    return http::JsonResponse(200, b);
  });
  add(Method::kPatch, cube, "cubes:write", "Change a cube's description or pre-aggregations {description, pre_aggregations}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Update(P(req, "name"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kDelete, cube, "cubes:write", "Delete a cube with its data, pre-aggregations, views and query log",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.Delete(P(req, "name")));
        return http::NoContent();
      });
  add(Method::kPost, cube + "/refresh", "cubes:write", "Look at the source now: build the cube again from a new version (only new segments when it appends)",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Refresh(P(req, "name")));
        return http::JsonResponse(202, b);
      });
  add(Method::kPost, cube + "/query", "cubes:read",
      "Query a cube {measures, dimensions, filters: [{dimension | measure, op, value | values}], order, limit, offset, "
      "totals: none | rollup | cube, top: {n, by, per}, compare: {to: previous_period | previous_year}, pivot, pre_aggregation}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Query(P(req, "name"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, cube + "/drill", "cubes:read",
      "Drill down into a level's value or up to the coarser level {query, level, value, direction: down | up}: the new query and its result",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Drill(P(req, "name"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, "/api/v1/cubes/sql", "cubes:read",
      "Query a cube in SQL {sql: \"SELECT country, revenue FROM sales WHERE … GROUP BY ROLLUP(…) ORDER BY … LIMIT …\"}: "
      "the answer and the JSON query it became",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Sql(body));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, cube + "/anomalies", "cubes:read",
      "Anomalies of a measure over time {measure, level (time.day), filters, by, threshold (3.5), season (auto | none | periods)}: "
      "each period's value, seasonal baseline and robust z-score",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Anomalies(P(req, "name"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, cube + "/explain", "cubes:read",
      "Explain a change {measure, level, from, to, dimensions, filters, limit}: the level values that contributed most to the "
      "difference between two periods",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Explain(P(req, "name"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, cube + "/members", "cubes:read", "A level's values (?level=&q=&limit=), for pickers and filters",
      [&s](Request& req) -> Response {
        const auto level = req.Query("level");
        if (!level) return http::ErrorFor(req, Status::BadRequest("level is required"));
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 1000, 1, 10000));
        HTTP_TRY(Json b, s.Members(P(req, "name"), std::string(*level), std::string(req.Query("q").value_or("")), static_cast<size_t>(limit)));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, cube + "/views", "cubes:read", "The cube's saved views", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.Views(P(req, "name")));
    return http::JsonResponse(200, b);
  });
  add(Method::kPost, cube + "/views", "cubes:write", "Save a view {name, query, chart: table | bars | lines | heatmap} (a view of the same name is replaced)",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.PutView(P(req, "name"), body, *req.principal));
        return http::JsonResponse(201, b);
      });
  add(Method::kDelete, cube + "/views/{view}", "cubes:write", "Delete a saved view", [&s](Request& req) -> Response {
    HTTP_TRY_STATUS(s.DeleteView(P(req, "name"), P(req, "view")));
    return http::NoContent();
  });
  add(Method::kGet, cube + "/pre-aggregations/proposals", "cubes:read",
      "Pre-aggregations proposed from the query log: the levels of frequent queries no pre-aggregation answers",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Proposals(P(req, "name")));
        return http::JsonResponse(200, b);
      });
  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::cube
