#include "tracking/api.hpp"

#include <charconv>

#include "common/media_type.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "http/file_response.hpp"
#include "http/json.hpp"
#include "tracking/log_batch_json.hpp"

namespace aimass::tracking {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

constexpr int64_t kMaxHistoryPage = 25000;

Json ExperimentJson(const Experiment& e) {
  return {{"id", e.id},
          {"name", e.name},
          {"description", e.description},
          {"owner", e.owner},
          {"run_count", e.run_count},
          {"created_at", Rfc3339Ms(e.created_ms)},
          {"updated_at", Rfc3339Ms(e.updated_ms)}};
}

Json MetricJson(const LatestMetric& m) {
  return {{"value", m.value}, {"step", m.step}, {"timestamp", m.timestamp_ms},
          {"min", m.min},     {"max", m.max},   {"count", m.count}};
}

Json LinkJson(const RunLink& l) { return {{l.kind, l.name}, {"version", l.version}}; }

Json RunJson(const Run& r, bool details) {
  Json metrics = Json::object();
  for (const auto& [k, m] : r.metrics) metrics[k] = MetricJson(m);
  Json j = {{"id", r.id},
            {"experiment", r.experiment},
            {"name", r.name},
            {"status", r.status},
            {"owner", r.owner},
            {"description", r.description},
            {"start_time", Rfc3339Ms(r.start_ms)},
            {"end_time", r.end_ms ? Json(Rfc3339Ms(r.end_ms)) : Json(nullptr)},
            {"duration_ms", r.end_ms ? Json(r.end_ms - r.start_ms) : Json(nullptr)},
            {"params", r.params},
            {"tags", r.tags},
            {"metrics", metrics}};
  if (details) {
    Json inputs = Json::array(), outputs = Json::array();
    for (const auto& l : r.links) (l.direction == "input" ? inputs : outputs).push_back(LinkJson(l));
    j["inputs"] = inputs;
    j["outputs"] = outputs;
    j["artifact_count"] = r.artifact_count;
  }
  return j;
}

Json ArtifactJson(const Artifact& a) {
  return {{"path", a.path}, {"size", a.size}, {"digest", a.digest}, {"created_at", Rfc3339Ms(a.created_ms)}};
}

Result<int64_t> RunId(const Request& req) {
  const std::string s = req.Param("id");
  int64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size() || id <= 0) return Status::BadRequest("a run id is a positive integer");
  return id;
}

Result<std::map<std::string, std::string>> KeyValueMap(const Json& body, const char* member) {
  std::vector<std::pair<std::string, std::string>> list;
  AIMASS_RETURN_IF_ERROR(ParseKeyValues(body, member, list));
  std::map<std::string, std::string> out;
  for (auto& [k, v] : list) out[k] = std::move(v);
  return out;
}

Result<std::vector<std::string>> ExperimentList(const Json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    for (auto& s : SplitCommaList(v.get<std::string>())) out.push_back(std::move(s));
    return out;
  }
  if (!v.is_array()) return Status::BadRequest("experiments is an array of names");
  for (const auto& e : v) {
    if (!e.is_string()) return Status::BadRequest("experiments is an array of names");
    out.push_back(e.get<std::string>());
  }
  return out;
}

Response SearchAnswer(Tracking& t, const Request& req, const std::vector<std::string>& experiments,
                      const std::string& filter, const std::string& order_by, const http::PageRequest& page) {
  HTTP_TRY(auto runs, t.SearchRuns(experiments, filter, order_by, page.size, page.offset));
  Json list = Json::array();
  for (const auto& r : runs) list.push_back(RunJson(r, false));
  return http::JsonResponse(200, {{"runs", list}, {"next_page_token", http::NextPageToken(page, runs.size())}});
}

Json ComparisonJson(const Comparison& c) {
  Json runs = Json::array();
  for (const auto& r : c.runs) {
    runs.push_back({{"id", r.id}, {"name", r.name}, {"experiment", r.experiment}, {"status", r.status},
                    {"start_time", Rfc3339Ms(r.start_ms)}});
  }
  Json params = Json::array();
  for (const auto& p : c.params) {
    Json values = Json::array();
    for (const auto& v : p.values) values.push_back(v ? Json(*v) : Json(nullptr));
    params.push_back({{"key", p.key}, {"values", values}, {"differs", p.differs}});
  }
  Json metrics = Json::array();
  for (const auto& m : c.metrics) {
    Json last = Json::array(), best = Json::array(), steps = Json::array();
    for (const auto& v : m.values) {
      last.push_back(v ? Json(v->value) : Json(nullptr));
      best.push_back(v ? Json(m.goal == "max" ? v->max : v->min) : Json(nullptr));
      steps.push_back(v ? Json(v->step) : Json(nullptr));
    }
    metrics.push_back({{"key", m.key}, {"goal", m.goal}, {"last", last}, {"best", best}, {"last_step", steps},
                       {"best_run", m.best_run ? Json(c.runs[*m.best_run].id) : Json(nullptr)}});
  }
  return {{"runs", runs}, {"params", params}, {"metrics", metrics}};
}

}  // namespace

Status RegisterRoutes(http::Router& router, Tracking& tracking) {
  Tracking& t = tracking;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "tracking", std::move(summary), std::move(h)));
    return routes.back();
  };

  add(Method::kPost, "/api/v1/experiments", "experiments:write", "Create an experiment {name, description}",
      [&t](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string name, http::RequiredString(body, "name"));
        HTTP_TRY(auto description, http::OptionalString(body, "description"));
        HTTP_TRY(Experiment e, t.CreateExperiment(name, description.value_or(""), req.principal->username));
        Response r = http::JsonResponse(201, ExperimentJson(e));
        r.headers.Set("Location", "/api/v1/experiments/" + e.name);
        return r;
      });
  add(Method::kGet, "/api/v1/experiments", "experiments:read", "List experiments by name, with their run counts",
      [&t](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(auto list, t.ListExperiments(page.size, page.offset));
        Json out = Json::array();
        for (const auto& e : list) out.push_back(ExperimentJson(e));
        return http::JsonResponse(200, {{"experiments", out}, {"next_page_token", http::NextPageToken(page, list.size())}});
      });
  add(Method::kGet, "/api/v1/experiments/{name}", "experiments:read", "Show an experiment", [&t](Request& req) -> Response {
    HTTP_TRY(Experiment e, t.GetExperiment(std::string(req.Param("name"))));
    return http::JsonResponse(200, ExperimentJson(e));
  });
  add(Method::kPatch, "/api/v1/experiments/{name}", "experiments:write", "Change an experiment's description",
      [&t](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string description, http::RequiredString(body, "description"));
        HTTP_TRY(Experiment e, t.UpdateExperiment(std::string(req.Param("name")), description));
        return http::JsonResponse(200, ExperimentJson(e));
      });
  add(Method::kDelete, "/api/v1/experiments/{name}", "experiments:write",
      "Delete an experiment and all its runs (their artifacts' blobs go at the next blob GC)", [&t](Request& req) -> Response {
        HTTP_TRY_STATUS(t.DeleteExperiment(std::string(req.Param("name"))));
        return http::NoContent();
      });

  add(Method::kPost, "/api/v1/runs", "experiments:write",
      "Start a run {experiment, name, description, status (default running), params, tags}", [&t](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        NewRun n;
        HTTP_TRY(n.experiment, http::RequiredString(body, "experiment"));
        HTTP_TRY(auto name, http::OptionalString(body, "name"));
        HTTP_TRY(auto description, http::OptionalString(body, "description"));
        HTTP_TRY(auto status, http::OptionalString(body, "status"));
        n.name = name.value_or("");
        n.description = description.value_or("");
        if (status) n.status = *status;
        HTTP_TRY(n.params, KeyValueMap(body, "params"));
        HTTP_TRY(n.tags, KeyValueMap(body, "tags"));
        HTTP_TRY(Run r, t.CreateRun(n, req.principal->username));
        Response resp = http::JsonResponse(201, RunJson(r, true));
        resp.headers.Set("Location", "/api/v1/runs/" + std::to_string(r.id));
        return resp;
      });
  add(Method::kGet, "/api/v1/runs", "experiments:read",
      "Search runs: ?experiment=a,b &filter= (params.<k>, metrics.<k>, tags.<k>, status, …) &order_by= &page_size=",
      [&t](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        std::vector<std::string> experiments;
        if (auto e = req.Query("experiment"); e && !e->empty()) experiments = SplitCommaList(*e);
        return SearchAnswer(t, req, experiments, std::string(req.Query("filter").value_or("")),
                            std::string(req.Query("order_by").value_or("")), page);
      });
  add(Method::kPost, "/api/v1/runs/search", "experiments:read",
      "Search runs with the query in the body {experiments, filter, order_by, page_size, page_token}",
      [&t](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        std::vector<std::string> experiments;
        if (body.contains("experiments")) {
          HTTP_TRY(experiments, ExperimentList(body["experiments"]));
        }
        HTTP_TRY(auto filter, http::OptionalString(body, "filter"));
        HTTP_TRY(auto order_by, http::OptionalString(body, "order_by"));
        HTTP_TRY(auto size, http::OptionalInt(body, "page_size"));
        HTTP_TRY(auto token, http::OptionalString(body, "page_token"));
        http::PageRequest page;
        if (size) {
          if (*size < 1 || *size > 1000) return http::ErrorResponse(Status::BadRequest("page_size is 1 to 1000"), req.request_id);
          page.size = *size;
        }
        if (token && !token->empty()) {
          auto [p, ec] = std::from_chars(token->data(), token->data() + token->size(), page.offset);
          if (ec != std::errc() || p != token->data() + token->size() || page.offset < 0) {
            return http::ErrorResponse(Status::BadRequest("invalid page_token"), req.request_id);
          }
        }
        return SearchAnswer(t, req, experiments, filter.value_or(""), order_by.value_or(""), page);
      });
  add(Method::kPost, "/api/v1/runs/compare", "experiments:read",
      "Compare runs {runs: [id…], goals: {metric: max|min}}: params side by side (differs marked), last and best metrics",
      [&t](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        if (!body.contains("runs") || !body["runs"].is_array()) {
          return http::ErrorResponse(Status::BadRequest("runs is an array of run ids"), req.request_id);
        }
        std::vector<int64_t> ids;
        for (const auto& v : body["runs"]) {
          if (!v.is_number_integer()) return http::ErrorResponse(Status::BadRequest("runs is an array of run ids"), req.request_id);
          ids.push_back(v.get<int64_t>());
        }
        std::map<std::string, std::string> goals;
        if (body.contains("goals")) {
          if (!body["goals"].is_object()) return http::ErrorResponse(Status::BadRequest("goals is {metric: max|min}"), req.request_id);
          for (auto it = body["goals"].begin(); it != body["goals"].end(); ++it) {
            if (!it.value().is_string()) return http::ErrorResponse(Status::BadRequest("goals is {metric: max|min}"), req.request_id);
            goals[it.key()] = it.value().get<std::string>();
          }
        }
        HTTP_TRY(Comparison c, t.Compare(ids, goals));
        return http::JsonResponse(200, ComparisonJson(c));
      });
  add(Method::kGet, "/api/v1/runs/{id}", "experiments:read",
      "Show a run: params, tags, metrics (last, min, max), inputs, outputs", [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(Run r, t.GetRun(id));
        return http::JsonResponse(200, RunJson(r, true));
      });
  add(Method::kPatch, "/api/v1/runs/{id}", "experiments:write",
      "Update a run {status, name, description}; a final status (succeeded, failed, cancelled) sets its end time",
      [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(auto status, http::OptionalString(body, "status"));
        HTTP_TRY(auto name, http::OptionalString(body, "name"));
        HTTP_TRY(auto description, http::OptionalString(body, "description"));
        HTTP_TRY(Run r, t.UpdateRun(id, name, status, description));
        return http::JsonResponse(200, RunJson(r, true));
      });
  add(Method::kDelete, "/api/v1/runs/{id}", "experiments:write",
      "Delete a run and all it logged (its artifacts' blobs go at the next blob GC)", [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY_STATUS(t.DeleteRun(id));
        return http::NoContent();
      });
  add(Method::kPost, "/api/v1/runs/{id}/log", "experiments:write",
      "Log a batch in one transaction {metrics: [{key, value, step, timestamp}], params, tags, inputs, outputs}",
      [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_PARSE_BODY(body);
        HTTP_TRY(LogBatch batch, ParseLogBatch(body));
        size_t points = batch.metrics.size();
        HTTP_TRY_STATUS(t.Log(id, std::move(batch)));
        return http::JsonResponse(200, {{"run", id}, {"metrics", points}});
      });
  add(Method::kDelete, "/api/v1/runs/{id}/tags/{key...}", "experiments:write", "Remove a tag from a run",
      [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY_STATUS(t.DeleteTag(id, std::string(req.Param("key"))));
        return http::NoContent();
      });
  add(Method::kGet, "/api/v1/runs/{id}/metrics/{key...}", "experiments:read",
      "A metric's history in the order logged {metrics: [{step, value, timestamp}], next_page_token}; page_size up to 25000",
      [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(http::PageRequest page, http::ParsePage(req, 10000, kMaxHistoryPage));
        HTTP_TRY(auto points, t.MetricHistory(id, std::string(req.Param("key")), page.offset, page.size));
        Json list = Json::array();
        for (const auto& p : points) list.push_back({{"step", p.step}, {"value", p.value}, {"timestamp", p.timestamp_ms}});
        return http::JsonResponse(200, {{"key", req.Param("key")}, {"metrics", list},
                                        {"next_page_token", http::NextPageToken(page, points.size())}});
      });

  add(Method::kPut, "/api/v1/runs/{id}/artifacts/{path...}", "experiments:write",
      "Store a file as the run's artifact at path (the body; replaces one there)", [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(Artifact a, t.PutArtifact(id, std::string(req.Param("path")), req.body_file, req.body_size, req.body_sha256));
        return http::JsonResponse(201, ArtifactJson(a));
      })
      .streaming_body = true;
  add(Method::kGet, "/api/v1/runs/{id}/artifacts", "experiments:read", "List a run's artifacts", [&t](Request& req) -> Response {
    HTTP_TRY(int64_t id, RunId(req));
    HTTP_TRY(auto list, t.Artifacts(id));
    Json out = Json::array();
    for (const auto& a : list) out.push_back(ArtifactJson(a));
    return http::JsonResponse(200, {{"artifacts", out}});
  });
  add(Method::kGet, "/api/v1/runs/{id}/artifacts/{path...}", "experiments:read", "Download an artifact (Range supported)",
      [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(auto opened, t.OpenArtifact(id, std::string(req.Param("path"))));
        Response r = http::FileResponse(req, opened.second, opened.first.size, MediaTypeOf(opened.first.path));
        // Artifacts are the users' files: never let one run as a page of the platform's origin.
        r.headers.Set("Content-Security-Policy", "sandbox");
        r.headers.Set("X-Content-Type-Options", "nosniff");
        r.headers.Set("X-Content-Sha256", opened.first.digest.substr(7));
        return r;
      });
  add(Method::kDelete, "/api/v1/runs/{id}/artifacts/{path...}", "experiments:write", "Remove an artifact from a run",
      [&t](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY_STATUS(t.DeleteArtifact(id, std::string(req.Param("path"))));
        return http::NoContent();
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::tracking
