// /api/v1/admin/failpoints: the failpoints (common/failpoint.hpp) at run time, for crash and
// fault tests against a running server. Registered only when `failpoints_api` is on.
#include <spdlog/spdlog.h>

#include "common/failpoint.hpp"
#include "http/json.hpp"
#include "server/core_api.hpp"

namespace aimass::server {

using http::Method;
using http::Request;
using http::Response;

namespace {

http::Json PointJson(const failpoint::State& s) {
  return {{"name", s.name}, {"guards", s.guards}, {"action", s.action}, {"hits", s.hits}};
}

Result<failpoint::State> Find(const std::string& name) {
  for (auto& s : failpoint::List()) {
    if (s.name == name) return s;
  }
  return Status::NotFound("no failpoint '" + name.substr(0, 64) + "'");
}

}  // namespace

Status RegisterFailpointRoutes(http::Router& router) {
  AIMASS_RETURN_IF_ERROR(router.Add(http::MakeRoute(
      Method::kGet, "/api/v1/admin/failpoints", "failpoints:read", "admin",
      "Every failpoint, with what it guards, its action and how often it was reached while armed",
      [](Request&) -> Response {
        http::Json list = http::Json::array();
        for (const auto& s : failpoint::List()) list.push_back(PointJson(s));
        return http::JsonResponse(200, {{"failpoints", list}});
      })));

  // Not audited: an audit entry is a metadata commit, which would set off the very point
  // (db.before_commit) being armed. Every change is logged instead.
  http::Route put = http::MakeRoute(
      Method::kPut, "/api/v1/admin/failpoints/{name}", "failpoints:write", "admin",
      "Arm a failpoint: {\"action\": \"crash\" | \"error\" | \"error(ENOSPC)\" | \"pause\" | \"sleep(MS)\" | "
      "\"off\"}, optionally prefixed \"N*\" (fire N times)",
      [](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(std::string action, http::RequiredString(body, "action"));
        HTTP_TRY_STATUS(failpoint::Set(req.Param("name"), action));
        spdlog::warn("failpoint {} set to '{}' by {}", req.Param("name"), action, req.principal->username);
        HTTP_TRY(failpoint::State s, Find(req.Param("name")));
        return http::JsonResponse(200, PointJson(s));
      });
  put.audited = false;
  AIMASS_RETURN_IF_ERROR(router.Add(std::move(put)));

  http::Route del = http::MakeRoute(Method::kDelete, "/api/v1/admin/failpoints/{name}", "failpoints:write",
                                    "admin", "Disarm a failpoint (a thread paused at it goes on)",
                                    [](Request& req) -> Response {
                                      HTTP_TRY_STATUS(failpoint::Clear(req.Param("name")));
                                      spdlog::warn("failpoint {} cleared by {}", req.Param("name"),
                                                   req.principal->username);
                                      return http::NoContent();
                                    });
  del.audited = false;
  return router.Add(std::move(del));
}

}  // namespace aimass::server
