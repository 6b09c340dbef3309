#include "behavior/api.hpp"

#include "http/json.hpp"

namespace aimass::behavior {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

std::string P(const Request& req, const char* name) { return std::string(req.Param(name)); }

constexpr uint64_t kMaxCaptureBytes = 64u << 20;

}  // namespace

Status RegisterRoutes(http::Router& router, BehaviorService& service) {
  BehaviorService& s = service;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "behavior", std::move(summary), std::move(h)));
    return routes.back();
  };
  const std::string project = "/api/v1/behavior/{project}";

  add(Method::kPost, "/api/v1/behavior/projects", "behavior:write",
      "Create a behaviour project {name, description, topic (a message-queue topic whose messages are captured)}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.CreateProject(body, *req.principal));
        Response r = http::JsonResponse(201, b);
        r.headers.Set("Location", "/api/v1/behavior/projects/" + b["name"].get<std::string>());
        return r;
      });
  add(Method::kGet, "/api/v1/behavior/projects", "behavior:read", "List the projects with their events, persons and memory",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.ListProjects());
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, "/api/v1/behavior/projects/{project}", "behavior:read", "A project and its statistics", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.GetProject(P(req, "project")));
    return http::JsonResponse(200, b);
  });
  add(Method::kPatch, "/api/v1/behavior/projects/{project}", "behavior:write", "Change a project's description or followed topic {description, topic}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.UpdateProject(P(req, "project"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kDelete, "/api/v1/behavior/projects/{project}", "behavior:write", "Delete a project with its events, persons, cohorts and insights",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.DeleteProject(P(req, "project")));
        return http::NoContent();
      });
  add(Method::kPost, project + "/capture", "behavior:capture",
      "Capture one event {event, distinct_id, timestamp, properties, uuid} or a batch {batch: [event, …]}; acknowledged once durable. "
      "A batch with a malformed event is refused whole; an event whose uuid was captured before is skipped",
      [&s](Request& req) -> Response {
        Json body = Json::parse(req.body, nullptr, false);
        if (body.is_discarded()) return http::ErrorResponse(Status::InvalidJson("request body is not valid JSON"), req.request_id);
        HTTP_TRY(Json b, s.Capture(P(req, "project"), body));
        return http::JsonResponse(200, b);
      })
      .max_body_bytes = kMaxCaptureBytes;
  add(Method::kPost, project + "/alias", "behavior:capture",
      "Merge the person of an id into another's {distinct_id (the known id), alias (e.g. the anonymous id)}: their events count as one person's",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Alias(P(req, "project"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, project + "/import", "behavior:write",
      "Capture the rows of a dataset version as events {dataset, version, event | event_column, distinct_id, timestamp, properties: "
      "{name: column | expression}}; importing a version again stores nothing twice",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Import(P(req, "project"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, project + "/insights/{kind}", "behavior:read",
      "Run an insight: trends, funnels, retention, lifecycle, stickiness, paths, rfm or lifetime {event | series | steps, interval, "
      "date_from, date_to, filters, breakdown, …} (rfm and lifetime write person properties unless write is false)",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Insight(P(req, "project"), P(req, "kind"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, project + "/schema", "behavior:read", "The project's event names, event properties (with types) and person properties",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Schema(P(req, "project")));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, project + "/properties/{key}/values", "behavior:read",
      "A text property's values, sorted (?type=event|person&q=&limit=100), for pickers and filters", [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 10000));
        const std::string type(req.Query("type").value_or("event"));
        if (type != "event" && type != "person") return http::ErrorFor(req, Status::BadRequest("type is event or person"));
        HTTP_TRY(Json b, s.PropertyValues(P(req, "project"), P(req, "key"), type == "person", std::string(req.Query("q").value_or("")),
                                          static_cast<size_t>(limit)));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, project + "/events", "behavior:read", "The newest events (?distinct_id=&event=&limit=100), newest first",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 10000));
        HTTP_TRY(Json b, s.Events(P(req, "project"), std::string(req.Query("distinct_id").value_or("")),
                                  std::string(req.Query("event").value_or("")), static_cast<size_t>(limit)));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, project + "/persons", "behavior:read", "Persons (?search=&cohort=&limit=100&offset=0) with their properties",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 10000));
        HTTP_TRY(int64_t offset, http::QueryInt(req, "offset", 0, 0, int64_t{1} << 40));
        HTTP_TRY(Json b, s.Persons(P(req, "project"), std::string(req.Query("search").value_or("")), std::string(req.Query("cohort").value_or("")),
                                   static_cast<size_t>(limit), static_cast<size_t>(offset)));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, project + "/persons/{distinct_id}", "behavior:read",
      "A person by any of their distinct ids: all their ids, properties, events, first and last seen", [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Person(P(req, "project"), P(req, "distinct_id")));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, project + "/persons/{distinct_id}/properties", "behavior:write", "Set person properties {properties: {…}}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.SetPersonProperties(P(req, "project"), P(req, "distinct_id"), body));
        return http::JsonResponse(200, b);
      });
  // Cohorts, saved insights and dashboards share one shape.
  struct ItemKind {
    const char* path;
    const char* kind;
    const char* put;
    const char* get;
  };
  static const ItemKind kItems[] = {
      {"cohorts", "cohort",
       "Save a cohort {name, description, distinct_ids: […] (static) | criteria: {match: all | any, conditions: [{type: behavior, event, "
       "filters, min_count, max_count, days | date_from, date_to} | {type: person, key, operator, value} | {type: cohort, value}]}}",
       "A cohort and its size now"},
      {"insights", "insight", "Save an insight {name, description, kind, query, chart}", "A saved insight with its answer now"},
      {"dashboards", "dashboard", "Save a dashboard {name, description, insights: [saved insights' names]}", "A dashboard with each insight's answer now"},
  };
  for (const ItemKind& k : kItems) {
    const std::string base = project + "/" + k.path;
    const std::string kind = k.kind;
    add(Method::kPost, base, "behavior:write", std::string(k.put) + " (one of the same name is replaced)", [&s, kind](Request& req) -> Response {
      HTTP_PARSE_BODY(body);
      HTTP_TRY(Json b, s.PutItem(kind, P(req, "project"), body, *req.principal));
      return http::JsonResponse(201, b);
    });
    add(Method::kGet, base, "behavior:read", std::string("List the project's ") + k.path, [&s, kind](Request& req) -> Response {
      HTTP_TRY(Json b, s.ListItems(kind, P(req, "project")));
      return http::JsonResponse(200, b);
    });
    add(Method::kGet, base + "/{name}", "behavior:read", k.get, [&s, kind](Request& req) -> Response {
      HTTP_TRY(Json b, s.GetItem(kind, P(req, "project"), P(req, "name")));
      return http::JsonResponse(200, b);
    });
    add(Method::kDelete, base + "/{name}", "behavior:write", std::string("Delete a ") + kind, [&s, kind](Request& req) -> Response {
      HTTP_TRY_STATUS(s.DeleteItem(kind, P(req, "project"), P(req, "name")));
      return http::NoContent();
    });
  }
  add(Method::kPost, project + "/models/churn", "behavior:write",
      "Train the churn model {label_property, date_to (the features' cut-off), top_events, property (churn_probability), num_round, "
      "max_depth}: features as a dataset version, a pipeline run (train.xgboost, register), then every person scored → 202",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.TrainChurn(P(req, "project"), body, *req.principal));
        return http::JsonResponse(202, b);
      });
  add(Method::kGet, project + "/models/churn", "behavior:read",
      "The churn model: state (preparing, training, scored, failed), run, model version, held-out AUC, persons scored",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Churn(P(req, "project")));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, project + "/cohorts/{name}/persons", "behavior:read", "A cohort's persons now (?limit=100&offset=0)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 10000));
        HTTP_TRY(int64_t offset, http::QueryInt(req, "offset", 0, 0, int64_t{1} << 40));
        HTTP_TRY(Json b, s.CohortPersons(P(req, "project"), P(req, "name"), static_cast<size_t>(limit), static_cast<size_t>(offset)));
        return http::JsonResponse(200, b);
      });
  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::behavior
