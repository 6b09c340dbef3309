#include "scheduler/api.hpp"

#include <charconv>

#include "auth/rbac.hpp"
#include "http/json.hpp"

namespace aimass::scheduler {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

// What the caller must hold, beyond cron:write, to own a job with this target.
Status MayOwn(const Principal& who, const Target& t) {
  if (t.type == Target::Type::kShell && !auth::Allows(who.permissions, "cron:shell")) {
    return Status::Forbidden("a shell target needs cron:shell (admins only by default)");
  }
  if (t.type == Target::Type::kMq) return auth::MayActOnTopic(who, t.topic, "publish");
  return Status::Ok();
}

Result<bool> PausedIn(const Json& body) {
  auto it = body.find("paused");
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) return Status::BadRequest("'paused' must be true or false");
  return it->get<bool>();
}

Result<int64_t> RunId(const std::string& text) {
  int64_t id = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || p != text.data() + text.size() || id <= 0) return Status::BadRequest("a run id is a positive integer");
  return id;
}

}  // namespace

Status RegisterRoutes(http::Router& router, Scheduler& scheduler) {
  Scheduler& s = scheduler;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "cron", std::move(summary), std::move(h)));
  };

  add(Method::kPost, "/api/v1/cron", "cron:write",
      "Create a cron job (schedule, time_zone, concurrency_policy, starting_deadline_seconds, max_catchup, retries, "
      "timeout_seconds, target)",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(JobSpec spec, ParseJobSpec(body));
        HTTP_TRY(bool paused, PausedIn(body));
        HTTP_TRY_STATUS(MayOwn(*req.principal, spec.target));
        HTTP_TRY(Job job, s.Create(spec, req.principal->username, paused));
        Response r = http::JsonResponse(201, ToJson(job));
        r.headers.Set("Location", "/api/v1/cron/" + job.spec.name);
        return r;
      });
  add(Method::kGet, "/api/v1/cron", "cron:read", "List cron jobs with their next run", [&s](Request& req) -> Response {
    HTTP_TRY(auto jobs, s.List());
    Json list = Json::array();
    for (const auto& j : jobs) list.push_back(ToJson(j));
    return http::JsonResponse(200, {{"jobs", list}});
  });
  add(Method::kGet, "/api/v1/cron/{name}", "cron:read", "Show a cron job", [&s](Request& req) -> Response {
    HTTP_TRY(Job job, s.Get(req.Param("name")));
    return http::JsonResponse(200, ToJson(job));
  });
  add(Method::kPut, "/api/v1/cron/{name}", "cron:write",
      "Replace a cron job's spec (its history and paused state stay; the caller becomes its owner)",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        Json j = body;
        if (!j.contains("name")) j["name"] = req.Param("name");
        if (j["name"] != req.Param("name")) {
          return http::ErrorResponse(Status::BadRequest("the name in the body differs from the path"), req.request_id);
        }
        HTTP_TRY(JobSpec spec, ParseJobSpec(j));
        HTTP_TRY_STATUS(MayOwn(*req.principal, spec.target));
        HTTP_TRY(Job job, s.Replace(spec, req.principal->username));
        return http::JsonResponse(200, ToJson(job));
      });
  add(Method::kDelete, "/api/v1/cron/{name}", "cron:write", "Delete a cron job and its history; runs going are cancelled",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.Delete(req.Param("name")));
        return http::NoContent();
      });
  add(Method::kPost, "/api/v1/cron/{name}/pause", "cron:write", "Pause a cron job: nothing fires until resumed",
      [&s](Request& req) -> Response {
        HTTP_TRY(Job job, s.Pause(req.Param("name")));
        return http::JsonResponse(200, ToJson(job));
      });
  add(Method::kPost, "/api/v1/cron/{name}/resume", "cron:write",
      "Resume a cron job from the next scheduled time after now", [&s](Request& req) -> Response {
        HTTP_TRY(Job job, s.Resume(req.Param("name")));
        return http::JsonResponse(200, ToJson(job));
      });
  add(Method::kPost, "/api/v1/cron/{name}/run", "cron:write", "Run a cron job now, outside its schedule",
      [&s](Request& req) -> Response {
        HTTP_TRY(Job job, s.Get(req.Param("name")));
        // Running a job acts with its owner's rights: who triggers it must be able to own it.
        HTTP_TRY_STATUS(MayOwn(*req.principal, job.spec.target));
        HTTP_TRY(Run run, s.Trigger(job.spec.name));
        return http::JsonResponse(202, ToJson(run));
      });
  add(Method::kGet, "/api/v1/cron/{name}/runs", "cron:read", "A cron job's runs, newest first (page_size, page_token)",
      [&s](Request& req) -> Response {
        HTTP_TRY(http::PageRequest page, http::ParsePage(req));
        HTTP_TRY(auto runs, s.Runs(req.Param("name"), page.offset, page.size));
        Json list = Json::array();
        for (const auto& r : runs) list.push_back(ToJson(r));
        return http::JsonResponse(200, {{"runs", list}, {"next_page_token", http::NextPageToken(page, runs.size())}});
      });
  add(Method::kGet, "/api/v1/cron/{name}/runs/{id}", "cron:read", "One run of a cron job", [&s](Request& req) -> Response {
    HTTP_TRY(int64_t id, RunId(req.Param("id")));
    HTTP_TRY(Run run, s.GetRun(req.Param("name"), id));
    return http::JsonResponse(200, ToJson(run));
  });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::scheduler
