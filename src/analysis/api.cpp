#include "analysis/api.hpp"

#include "http/json.hpp"

namespace aimass::analysis {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

std::string Q(const Request& req, const char* name) { return req.Query(name).value_or(""); }

Result<int64_t> JobId(const Request& req) {
  const std::string text(req.Param("id"));
  try {
    size_t used = 0;
    const long long id = std::stoll(text, &used);
    if (used == text.size() && id > 0) return id;
  } catch (...) {
  }
  return Status::NotFound("no mining job '" + text + "'");
}

Result<bool> WithResult(const Request& req) {
  const std::string v = Q(req, "result");
  if (v.empty() || v == "true") return true;
  if (v == "false") return false;
  return Status::BadRequest("result is true or false");
}

}  // namespace

Status RegisterRoutes(http::Router& router, MiningService& mining) {
  MiningService& m = mining;
  std::vector<http::Route> routes;
  auto add = [&](Method method, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(method, std::move(pattern), std::move(permission), "analysis", std::move(summary), std::move(h)));
    return routes.back();
  };
  const std::string job = "/api/v1/analysis/mining/{id}";

  add(Method::kPost, "/api/v1/analysis/mining", "analysis:write",
      "Start a mining job {kind: association_rules | kmeans | dbscan | sequences | outliers, source: {dataset, version}, params} on a "
      "table dataset version; 202 with the queued job",
      [&m](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json j, m.Create(body, *req.principal));
        Response r = http::JsonResponse(202, j);
        r.headers.Set("Location", "/api/v1/analysis/mining/" + std::to_string(j["id"].get<int64_t>()));
        return r;
      });
  add(Method::kGet, "/api/v1/analysis/mining", "analysis:read",
      "List mining jobs, newest first (?state=, kind=, dataset=, page_size=, page_token=), without their results",
      [&m](Request& req) -> Response {
        HTTP_TRY(int64_t size, http::QueryInt(req, "page_size", 100, 1, 1000));
        HTTP_TRY(Json j, m.List(Q(req, "state"), Q(req, "kind"), Q(req, "dataset"), size, Q(req, "page_token")));
        return http::JsonResponse(200, j);
      });
  add(Method::kGet, job, "analysis:read", "A mining job: its state and phase, and its result once it succeeded (?result=false: without)",
      [&m](Request& req) -> Response {
        HTTP_TRY(int64_t id, JobId(req));
        HTTP_TRY(bool with, WithResult(req));
        HTTP_TRY(Json j, m.Get(id, with));
        return http::JsonResponse(200, j);
      });
  add(Method::kPost, job + "/cancel", "analysis:write", "Cancel a queued or running mining job", [&m](Request& req) -> Response {
    HTTP_TRY(int64_t id, JobId(req));
    HTTP_TRY(Json j, m.Cancel(id));
    return http::JsonResponse(200, j);
  });
  add(Method::kDelete, job, "analysis:write", "Delete a mining job and its result (a queued or running one is cancelled first)",
      [&m](Request& req) -> Response {
        HTTP_TRY(int64_t id, JobId(req));
        HTTP_TRY_STATUS(m.Delete(id));
        return http::NoContent();
      });

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::analysis
