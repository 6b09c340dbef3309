#include "pipeline/api.hpp"

#include <charconv>

#include "common/time.hpp"
#include "http/json.hpp"

namespace aimass::pipeline {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

Json Parsed(const std::string& text, Json fallback) {
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

Json When(int64_t ms) { return ms ? Json(Rfc3339Ms(ms)) : Json(nullptr); }

Json PipelineJson(const Pipeline& p) {
  return {{"id", p.id},
          {"name", p.name},
          {"owner", p.owner},
          {"revision", p.revision},
          {"spec", Parsed(p.spec, Json::object())},
          {"created_at", Rfc3339Ms(p.created_ms)},
          {"updated_at", Rfc3339Ms(p.updated_ms)}};
}

Json RunJson(const PipelineRun& r) {
  return {{"id", r.id},
          {"pipeline", r.pipeline},
          {"state", r.state},
          {"owner", r.owner},
          {"trigger", r.trigger},
          {"resumed_from", r.resumed_from ? Json(*r.resumed_from) : Json(nullptr)},
          {"reason", r.reason},
          {"params", Parsed(r.params, Json::object())},
          {"cancel_requested", r.cancel_requested},
          {"created_at", Rfc3339Ms(r.created_ms)},
          {"started_at", When(r.started_ms)},
          {"finished_at", When(r.finished_ms)}};
}

Json StepJson(const StepRun& s) {
  Json j = {{"name", s.name},
            {"step", s.step},
            {"state", s.state},
            {"attempts", s.attempts},
            {"cached", s.cached},
            {"cached_from_run", s.cached_from_run ? Json(*s.cached_from_run) : Json(nullptr)},
            {"job", s.job_id ? Json(*s.job_id) : Json(nullptr)},
            {"jobs", Parsed(s.jobs, Json::array())},
            {"outputs", Parsed(s.outputs, Json::object())},
            {"inputs", Parsed(s.inputs, Json(nullptr))},
            {"reason", s.reason},
            {"started_at", When(s.started_ms)},
            {"finished_at", When(s.finished_ms)}};
  if (s.item_index >= 0) {
    j["item"] = Parsed(s.item, Json(nullptr));
    j["item_index"] = s.item_index;
  }
  if (!s.cache_key.empty()) j["cache_key"] = s.cache_key;
  return j;
}

Json ViewJson(const RunView& v) {
  Json j = RunJson(v.run);
  Json steps = Json::array();
  for (const auto& s : v.steps) steps.push_back(StepJson(s));
  j["steps"] = steps;
  return j;
}

Result<int64_t> RunId(const Request& req) {
  const std::string s = req.Param("id");
  int64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size() || id <= 0) {
    return Status::BadRequest("a pipeline run id is a positive integer");
  }
  return id;
}

}  // namespace

Status RegisterRoutes(http::Router& router, Pipelines& pipelines) {
  Pipelines& pl = pipelines;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "pipelines", std::move(summary), std::move(h)));
    return routes.back();
  };

  add(Method::kPost, "/api/v1/pipelines", "pipelines:write",
      "Create a pipeline from its spec, JSON or YAML {name, params, schedule, steps: [{name, uses, with, command, needs, "
      "cache, retries, when, foreach, resources}]}",
      [&pl](Request& req) -> Response {
        HTTP_TRY(Pipeline p, pl.Create(req.body, *req.principal));
        Response r = http::JsonResponse(201, PipelineJson(p));
        r.headers.Set("Location", "/api/v1/pipelines/" + p.name);
        return r;
      });
  add(Method::kGet, "/api/v1/pipelines", "pipelines:read", "List pipelines", [&pl](Request& req) -> Response {
    HTTP_TRY(http::PageRequest page, http::ParsePage(req));
    HTTP_TRY(auto list, pl.List(page.size, page.offset));
    Json out = Json::array();
    for (const auto& p : list) out.push_back(PipelineJson(p));
    return http::JsonResponse(200, {{"pipelines", out}, {"next_page_token", http::NextPageToken(page, list.size())}});
  });
  add(Method::kGet, "/api/v1/pipelines/{name}", "pipelines:read", "Show a pipeline and its spec", [&pl](Request& req) -> Response {
    HTTP_TRY(Pipeline p, pl.Get(req.Param("name")));
    return http::JsonResponse(200, PipelineJson(p));
  });
  add(Method::kPut, "/api/v1/pipelines/{name}", "pipelines:write", "Replace a pipeline's spec (runs going keep theirs)",
      [&pl](Request& req) -> Response {
        HTTP_TRY(Pipeline p, pl.Update(req.Param("name"), req.body, *req.principal));
        return http::JsonResponse(200, PipelineJson(p));
      });
  add(Method::kDelete, "/api/v1/pipelines/{name}", "pipelines:write", "Delete a pipeline, its runs and its cache",
      [&pl](Request& req) -> Response {
        HTTP_TRY_STATUS(pl.Delete(req.Param("name")));
        return http::NoContent();
      });
  add(Method::kPost, "/api/v1/pipelines/{name}/runs", "pipelines:write", "Run a pipeline {params: {name: value}}",
      [&pl](Request& req) -> Response {
        Json body = Json::object();
        if (!req.body.empty()) {
          HTTP_PARSE_BODY(parsed);
          body = parsed;
        }
        std::string trigger = "api";
        if (body.contains("trigger")) {
          if (body["trigger"] != "api" && body["trigger"] != "schedule") {
            return http::ErrorResponse(Status::BadRequest("trigger is api or schedule"), req.request_id);
          }
          trigger = body["trigger"].get<std::string>();
        }
        HTTP_TRY(RunView v, pl.StartRun(req.Param("name"), body.value("params", Json()), trigger, *req.principal));
        Response r = http::JsonResponse(201, ViewJson(v));
        r.headers.Set("Location", "/api/v1/pipeline-runs/" + std::to_string(v.run.id));
        return r;
      });
  add(Method::kGet, "/api/v1/pipelines/{name}/runs", "pipelines:read", "A pipeline's runs, newest first",
      [&pl](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(auto runs, pl.Runs(req.Param("name"), page.size, page.offset));
        Json out = Json::array();
        for (const auto& r : runs) out.push_back(RunJson(r));
        return http::JsonResponse(200, {{"runs", out}, {"next_page_token", http::NextPageToken(page, runs.size())}});
      });
  add(Method::kGet, "/api/v1/pipeline-runs/{id}", "pipelines:read",
      "A pipeline run with each step's state, attempts, cache hit and from which run, outputs and job",
      [&pl](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(RunView v, pl.GetRun(id));
        return http::JsonResponse(200, ViewJson(v));
      });
  add(Method::kPost, "/api/v1/pipeline-runs/{id}/cancel", "pipelines:write", "Cancel a run: its jobs are stopped",
      [&pl](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(RunView v, pl.Cancel(id));
        return http::JsonResponse(200, ViewJson(v));
      });
  add(Method::kPost, "/api/v1/pipeline-runs/{id}/resume", "pipelines:write",
      "Resume a failed or cancelled run: a new run that reuses its succeeded steps", [&pl](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(RunView v, pl.Resume(id, *req.principal));
        Response r = http::JsonResponse(201, ViewJson(v));
        r.headers.Set("Location", "/api/v1/pipeline-runs/" + std::to_string(v.run.id));
        return r;
      });
  add(Method::kGet, "/api/v1/pipeline-runs/{id}/steps/{step}/logs", "pipelines:read",
      "The output of a step's last attempt (the last MiB)", [&pl](Request& req) -> Response {
        HTTP_TRY(int64_t id, RunId(req));
        HTTP_TRY(std::string log, pl.StepLog(id, req.Param("step"), 1 << 20));
        Response r;
        r.status = 200;
        r.body = std::move(log);
        r.headers.Set("Content-Type", "text/plain; charset=utf-8");
        return r;
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::pipeline
