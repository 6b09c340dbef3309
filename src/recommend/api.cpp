#include "recommend/api.hpp"

#include "http/json.hpp"

namespace aimass::recommend {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

Result<Query> QueryOf(const Request& req) {
  Query q;
  AIMASS_ASSIGN_OR_RETURN(int64_t n, http::QueryInt(req, "n", 10, 1, 500));
  q.n = static_cast<size_t>(n);
  q.category = std::string(req.Query("category").value_or(""));
  q.algorithm = std::string(req.Query("algorithm").value_or(""));
  if (req.Query("max_per_category")) {
    AIMASS_ASSIGN_OR_RETURN(int64_t m, http::QueryInt(req, "max_per_category", 0, 0, 1000));
    q.max_per_category = static_cast<int>(m);
  }
  q.explain = req.Query("explain").value_or("true") != "false";
  q.preview = req.Query("preview").value_or("false") == "true";
  return q;
}

std::string P(const Request& req, const char* name) { return std::string(req.Param(name)); }

// A batch body: {"<key>": [...]} or the bare list.
Result<Json> BatchBody(const Request& req, const char* key) {
  Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !(body.is_object() || body.is_array())) {
    return Status::InvalidJson(std::string("the body is a JSON object {\"") + key + "\": [...]} or a list");
  }
  if (body.is_object()) return body.contains(key) ? body[key] : Json();
  return body;
}

}  // namespace

Status RegisterRoutes(http::Router& router, RecommendService& service) {
  RecommendService& s = service;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "recommend", std::move(summary), std::move(h)));
  };
  const std::string app = "/api/v1/recommend/apps/{app}";

  add(Method::kPost, "/api/v1/recommend/apps", "recommend:write",
      "Create a recommender app {name, feedback_types: {type: weight}, exclude_consumed, algorithm, max_per_category, "
      "click_types, conversion_types, training: {…}}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.CreateApp(body, *req.principal));
        Response r = http::JsonResponse(201, b);
        r.headers.Set("Location", "/api/v1/recommend/apps/" + b["name"].get<std::string>());
        return r;
      });
  add(Method::kGet, "/api/v1/recommend/apps", "recommend:read", "List the recommender apps with their counts and state",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.ListApps());
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, app, "recommend:read", "An app: configuration, counts, state, the model version it serves",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.GetApp(P(req, "app")));
        return http::JsonResponse(200, b);
      });
  add(Method::kPatch, app, "recommend:write", "Change an app's configuration (not its feedback types)", [&s](Request& req) -> Response {
    HTTP_PARSE_BODY(body);
    HTTP_TRY(Json b, s.UpdateApp(P(req, "app"), body));
    return http::JsonResponse(200, b);
  });
  add(Method::kDelete, app, "recommend:write", "Delete an app with its catalogue, users, feedback, evaluations, experiments",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.DeleteApp(P(req, "app")));
        return http::NoContent();
      });

  add(Method::kPut, app + "/items/{id}", "recommend:write", "Add or replace an item {categories, labels, properties, hidden, timestamp}",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        if (!body.is_object()) return http::ErrorFor(req, Status::InvalidJson("the body is a JSON object"));
        Json item_body = body;
        item_body["id"] = P(req, "id");
        HTTP_TRY(Json b, s.PutItems(P(req, "app"), Json::array({item_body})));
        HTTP_TRY(Json item, s.GetItem(P(req, "app"), P(req, "id")));
        return http::JsonResponse(200, item);
      });
  add(Method::kPost, app + "/items", "recommend:write", "Add or replace items in a batch {items: [{id, categories, …}]} (at most 10,000)",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json items, BatchBody(req, "items"));
        HTTP_TRY(Json b, s.PutItems(P(req, "app"), items));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, app + "/items", "recommend:read", "The catalogue in id order (?after=&limit=)", [&s](Request& req) -> Response {
    HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 1000));
    HTTP_TRY(Json b, s.ListItems(P(req, "app"), std::string(req.Query("after").value_or("")), limit));
    return http::JsonResponse(200, b);
  });
  add(Method::kGet, app + "/items/{id}", "recommend:read", "An item with its live popularity", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.GetItem(P(req, "app"), P(req, "id")));
    return http::JsonResponse(200, b);
  });
  add(Method::kDelete, app + "/items/{id}", "recommend:write", "Take an item out of the catalogue: never recommended again",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.DeleteItem(P(req, "app"), P(req, "id")));
        return http::NoContent();
      });
  add(Method::kGet, app + "/categories", "recommend:read", "The catalogue's categories with their item counts",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Categories(P(req, "app")));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, app + "/users", "recommend:write", "Add or replace users {users: [{id, labels, properties}]}",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json users, BatchBody(req, "users"));
        HTTP_TRY(Json b, s.PutUsers(P(req, "app"), users));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, app + "/users", "recommend:read", "Users in id order with how many items each consumed (?after=&limit=)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 1000));
        HTTP_TRY(Json b, s.ListUsers(P(req, "app"), std::string(req.Query("after").value_or("")), limit));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, app + "/users/{user}", "recommend:read", "A user with their newest feedback (?history=50)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t history, http::QueryInt(req, "history", 50, 0, 1000));
        HTTP_TRY(Json b, s.GetUser(P(req, "app"), P(req, "user"), history));
        return http::JsonResponse(200, b);
      });
  routes.push_back(http::MakeRoute(
      Method::kPost, app + "/feedback", "recommend:write", "recommend",
      "Feedback, one batch stored whole or not at all: {feedback: [{user, item, type, timestamp, value, session}]} "
      "(at most 10,000); the next recommendation already counts it",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json feedback, BatchBody(req, "feedback"));
        HTTP_TRY(Json b, s.AddFeedback(P(req, "app"), feedback));
        return http::JsonResponse(200, b);
      }));
  routes.back().max_body_bytes = 16u << 20;
  add(Method::kPost, app + "/import", "recommend:write",
      "Feedback from a dataset version {dataset, version, columns: {user, item, timestamp, type, value, session}, type}: "
      "all rows or none, once per version; rows without a user or item are skipped",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Import(P(req, "app"), body));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, app + "/feedback/export", "recommend:read",
      "All feedback weighted by type, tab-separated: user, item, weight, Unix ms, session (what training reads)",
      [&s](Request& req) -> Response {
        HTTP_TRY(std::string tsv, s.ExportFeedback(P(req, "app")));
        Response r;
        r.status = 200;
        r.headers.Set("Content-Type", "text/tab-separated-values; charset=utf-8");
        r.body = std::move(tsv);
        return r;
      });

  add(Method::kGet, app + "/users/{user}/recommendations", "recommend:read",
      "Recommendations for a user (?n=10&category=&algorithm=&max_per_category=&explain=&preview=) with a reason for each "
      "item; preview=true: outside any experiment, nothing recorded",
      [&s](Request& req) -> Response {
        HTTP_TRY(Query q, QueryOf(req));
        HTTP_TRY(Json b, s.Recommend(P(req, "app"), P(req, "user"), q));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, app + "/items/{id}/similar", "recommend:read", "Items similar to an item (?n=10&category=)",
      [&s](Request& req) -> Response {
        HTTP_TRY(Query q, QueryOf(req));
        HTTP_TRY(Json b, s.Similar(P(req, "app"), P(req, "id"), q));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, app + "/sessions/{id}/next", "recommend:read", "What comes next in a session (?n=10)", [&s](Request& req) -> Response {
    HTTP_TRY(Query q, QueryOf(req));
    HTTP_TRY(Json b, s.Next(P(req, "app"), P(req, "id"), q));
    return http::JsonResponse(200, b);
  });

  add(Method::kPost, app + "/train", "recommend:write", "Train the app's model: a pipeline run (train.recommend, register) → 202",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Train(P(req, "app"), *req.principal));
        return http::JsonResponse(202, b);
      });
  add(Method::kPost, app + "/evaluate", "recommend:write",
      "Evaluate every algorithm offline with a time split {split_at | test_days, k} → 202 the evaluation (a pipeline run)",
      [&s](Request& req) -> Response {
        Json body = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
        if (body.is_discarded()) return http::ErrorFor(req, Status::InvalidJson("the body is a JSON object"));
        HTTP_TRY(Json b, s.Evaluate(P(req, "app"), body, *req.principal));
        return http::JsonResponse(202, b);
      });
  add(Method::kGet, app + "/evaluations", "recommend:read", "The app's evaluations, newest first", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.ListEvaluations(P(req, "app")));
    return http::JsonResponse(200, b);
  });
  add(Method::kGet, app + "/evaluations/{id}", "recommend:read", "An evaluation: its state and table of metrics per algorithm",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t id, http::PathInt(req, "id"));
        HTTP_TRY(Json b, s.GetEvaluation(P(req, "app"), id));
        return http::JsonResponse(200, b);
      });

  add(Method::kPost, app + "/experiments", "recommend:write",
      "Start an A/B experiment {name, variants: [{name, algorithm, weight}], window_hours}; the first variant is the control",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.CreateExperiment(P(req, "app"), body));
        return http::JsonResponse(201, b);
      });
  add(Method::kGet, app + "/experiments", "recommend:read", "The app's experiments", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.ListExperiments(P(req, "app")));
    return http::JsonResponse(200, b);
  });
  add(Method::kGet, app + "/experiments/{name}", "recommend:read",
      "An experiment's results: exposures, click-through and conversion per variant, z-tests against the control",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.GetExperiment(P(req, "app"), P(req, "name")));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, app + "/experiments/{name}/stop", "recommend:write", "Stop an experiment (its results stay)",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.StopExperiment(P(req, "app"), P(req, "name")));
        return http::JsonResponse(200, b);
      });
  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::recommend
