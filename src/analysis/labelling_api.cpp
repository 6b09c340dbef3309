#include "analysis/labelling_api.hpp"

#include <cstdint>

#include "http/json.hpp"

namespace aimass::analysis {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

std::string P(const Request& req, const char* name) { return std::string(req.Param(name)); }

Result<int64_t> TaskId(const Request& req) {
  const std::string text(req.Param("task"));
  try {
    size_t used = 0;
    const long long id = std::stoll(text, &used);
    if (used == text.size() && id >= 0) return id;
  } catch (...) {
  }
  return Status::NotFound("no task '" + text + "'");
}

}  // namespace

Status RegisterLabellingRoutes(http::Router& router, LabellingService& labelling) {
  LabellingService& l = labelling;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "labelling", std::move(summary), std::move(h)));
  };
  const std::string base = "/api/v1/labelling/projects";
  const std::string one = base + "/{project}";
  const std::string task = one + "/tasks/{task}";

  add(Method::kPost, base, "labelling:write",
      "Create a labelling project {name, dataset, version, schema: {kind: single | multi | boxes | spans, classes, keys?, text_column?, "
      "show_columns?}, overlap, order: sequential | random | uncertainty, prelabel?, active_learning?, retrain?, export_dataset?}",
      [&l](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json j, l.CreateProject(body, *req.principal));
        Response r = http::JsonResponse(201, j);
        r.headers.Set("Location", "/api/v1/labelling/projects/" + j["name"].get<std::string>());
        return r;
      });
  add(Method::kGet, base, "labelling:read", "List the labelling projects", [&l](Request& req) -> Response {
    HTTP_TRY(Json j, l.ListProjects());
    return http::JsonResponse(200, j);
  });
  add(Method::kGet, one, "labelling:read", "A labelling project with its progress", [&l](Request& req) -> Response {
    HTTP_TRY(Json j, l.GetProject(P(req, "project")));
    return http::JsonResponse(200, j);
  });
  add(Method::kPatch, one, "labelling:write", "Change a project's settings (overlap, order, prelabel, active_learning, retrain, …)",
      [&l](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json j, l.UpdateProject(P(req, "project"), body));
        return http::JsonResponse(200, j);
      });
  add(Method::kDelete, one, "labelling:write", "Delete a project with its labels (exported versions stay)", [&l](Request& req) -> Response {
    HTTP_TRY_STATUS(l.DeleteProject(P(req, "project")));
    return http::NoContent();
  });
  add(Method::kGet, one + "/tasks/next", "labelling:annotate",
      "The caller's next task (held for them for 10 minutes), with the item, its labels and a pre-label; 204 when none is left",
      [&l](Request& req) -> Response {
        HTTP_TRY(auto t, l.NextTask(P(req, "project"), *req.principal));
        if (!t) return http::NoContent();
        return http::JsonResponse(200, *t);
      });
  add(Method::kGet, task, "labelling:annotate", "One task: the item, its labels, the caller's own, a pre-label", [&l](Request& req) -> Response {
    HTTP_TRY(int64_t id, TaskId(req));
    HTTP_TRY(Json j, l.Task(P(req, "project"), id, *req.principal));
    return http::JsonResponse(200, j);
  });
  add(Method::kPost, task + "/labels", "labelling:annotate", "Label a task {value, lead_ms?} (the caller's label, replacing theirs)",
      [&l](Request& req) -> Response {
        HTTP_TRY(int64_t id, TaskId(req));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json j, l.Label(P(req, "project"), id, body, *req.principal));
        return http::JsonResponse(201, j);
      });
  add(Method::kDelete, task + "/labels", "labelling:annotate", "Take back the caller's label of a task (undo)", [&l](Request& req) -> Response {
    HTTP_TRY(int64_t id, TaskId(req));
    HTTP_TRY_STATUS(l.Unlabel(P(req, "project"), id, *req.principal));
    return http::NoContent();
  });
  add(Method::kPost, task + "/review", "labelling:review",
      "Review a task {status: accepted | rejected, value?}: accepted with the value given or its labels' majority; rejected drops its labels",
      [&l](Request& req) -> Response {
        HTTP_TRY(int64_t id, TaskId(req));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json j, l.Review(P(req, "project"), id, body, *req.principal));
        return http::JsonResponse(200, j);
      });
  add(Method::kPost, one + "/accept", "labelling:review", "Accept every unreviewed task whose labels (all of its overlap) agree",
      [&l](Request& req) -> Response {
        HTTP_TRY(Json j, l.AcceptAgreed(P(req, "project"), *req.principal));
        return http::JsonResponse(200, j);
      });
  add(Method::kGet, one + "/items", "labelling:read", "The items with their labels and state (?state=unlabelled|labelled|accepted|rejected|all, offset, limit)",
      [&l](Request& req) -> Response {
        HTTP_TRY(int64_t offset, http::QueryInt(req, "offset", 0, 0, INT64_MAX));
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 1000));
        HTTP_TRY(Json j, l.Items(P(req, "project"), req.Query("state").value_or("all"), offset, limit));
        return http::JsonResponse(200, j);
      });
  add(Method::kGet, one + "/agreement", "labelling:read", "Agreement: Fleiss' kappa (overall, per label), Cohen's kappa per pair, per annotator",
      [&l](Request& req) -> Response {
        HTTP_TRY(Json j, l.Agreement(P(req, "project")));
        return http::JsonResponse(200, j);
      });
  add(Method::kPost, one + "/export", "labelling:write",
      "Export the accepted labels {dataset?, include: accepted | agreed} as a new version of a table dataset, with its lineage",
      [&l](Request& req) -> Response {
        Json body = Json::object();
        if (!req.body.empty()) {
          body = Json::parse(req.body, nullptr, false);
          if (body.is_discarded()) return http::ErrorResponse(Status::InvalidJson("the body is not JSON"), req.request_id);
        }
        HTTP_TRY(Json j, l.Export(P(req, "project"), body, *req.principal));
        return http::JsonResponse(201, j);
      });
  add(Method::kPost, one + "/prelabel", "labelling:write", "Pre-label every item with the project's deployment", [&l](Request& req) -> Response {
    HTTP_TRY(Json j, l.Prelabel(P(req, "project")));
    return http::JsonResponse(200, j);
  });
  add(Method::kGet, one + "/functions", "labelling:read", "The project's labelling functions", [&l](Request& req) -> Response {
    HTTP_TRY(Json j, l.Functions(P(req, "project")));
    return http::JsonResponse(200, j);
  });
  add(Method::kPost, one + "/functions", "labelling:write",
      "Add or replace a labelling function {name, kind: keyword | regex | rule, keywords | pattern | column+op+value, label, column?}",
      [&l](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json j, l.PutFunction(P(req, "project"), body));
        return http::JsonResponse(200, j);
      });
  add(Method::kDelete, one + "/functions/{function}", "labelling:write", "Remove a labelling function", [&l](Request& req) -> Response {
    HTTP_TRY_STATUS(l.DeleteFunction(P(req, "project"), P(req, "function")));
    return http::NoContent();
  });
  add(Method::kPost, one + "/functions/apply", "labelling:write",
      "Run the labelling functions over every item and combine their votes with the label model (stored as pre-labels)",
      [&l](Request& req) -> Response {
        HTTP_TRY(Json j, l.ApplyFunctions(P(req, "project")));
        return http::JsonResponse(200, j);
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::analysis
