#include "analysis/usage_api.hpp"

#include "common/time.hpp"
#include "http/json.hpp"

namespace aimass::analysis {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

std::string Q(const Request& req, const char* name) { return req.Query(name).value_or(""); }

// ?from=&to= as RFC 3339 times (default: the last hour).
Result<std::pair<int64_t, int64_t>> Span(const Request& req) {
  const int64_t now = UnixNowMs();
  int64_t from = now - 3'600'000, to = now + 1;
  if (!Q(req, "from").empty()) {
    auto t = ParseRfc3339Ms(Q(req, "from"));
    if (!t) return Status::BadRequest("from must be an RFC 3339 time");
    from = *t;
  }
  if (!Q(req, "to").empty()) {
    auto t = ParseRfc3339Ms(Q(req, "to"));
    if (!t) return Status::BadRequest("to must be an RFC 3339 time");
    to = *t;
  }
  return std::make_pair(from, to);
}

}  // namespace

Status RegisterUsageRoutes(http::Router& router, UsageService& usage) {
  UsageService& u = usage;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "usage", std::move(summary), std::move(h)));
  };
  add(Method::kGet, "/api/v1/usage/series", "usage:read",
      "Calls, errors, error rate, latency (avg, p95, max) and bytes over time (?by=all|application|consumer|route|deployment|version, "
      "value=, from=, to=, step_s=60)",
      [&u](Request& req) -> Response {
        HTTP_TRY(auto span, Span(req));
        HTTP_TRY(int64_t step, http::QueryInt(req, "step_s", 60, 10, 86400 * 31));
        HTTP_TRY(Json j, u.Series(Q(req, "by").empty() ? "all" : Q(req, "by"), Q(req, "value"), span.first, span.second, step * 1000));
        return http::JsonResponse(200, j);
      });
  add(Method::kGet, "/api/v1/usage/top", "usage:read",
      "The top applications, consumers, routes, deployments or versions by calls, errors, error_rate, latency_p95_ms or bytes_out "
      "(?by=, metric=, from=, to=, limit=10)",
      [&u](Request& req) -> Response {
        HTTP_TRY(auto span, Span(req));
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 10, 1, 1000));
        HTTP_TRY(Json j, u.Top(Q(req, "by").empty() ? "consumer" : Q(req, "by"), Q(req, "metric").empty() ? "calls" : Q(req, "metric"),
                               span.first, span.second, static_cast<size_t>(limit)));
        return http::JsonResponse(200, j);
      });
  add(Method::kGet, "/api/v1/usage/quota", "usage:read", "Each consumer's calls against the rate limits of the routes it calls",
      [&u](Request& req) -> Response {
        HTTP_TRY(Json j, u.Quota());
        return http::JsonResponse(200, j);
      });
  add(Method::kPost, "/api/v1/usage/alerts", "usage:write",
      "Add or replace an alert rule {name, metric, by, value?, threshold | anomaly, window_s, min_calls, webhook?}",
      [&u](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json j, u.PutRule(body));
        return http::JsonResponse(200, j);
      });
  add(Method::kGet, "/api/v1/usage/alerts", "usage:read", "The alert rules", [&u](Request& req) -> Response {
    HTTP_TRY(Json j, u.Rules());
    return http::JsonResponse(200, j);
  });
  add(Method::kGet, "/api/v1/usage/alerts/{name}", "usage:read", "An alert rule", [&u](Request& req) -> Response {
    HTTP_TRY(Json j, u.Rule(std::string(req.Param("name"))));
    return http::JsonResponse(200, j);
  });
  add(Method::kDelete, "/api/v1/usage/alerts/{name}", "usage:write", "Remove an alert rule", [&u](Request& req) -> Response {
    HTTP_TRY_STATUS(u.DeleteRule(std::string(req.Param("name"))));
    return http::NoContent();
  });
  add(Method::kGet, "/api/v1/usage/alert-events", "usage:read", "Alerts that fired and resolved, newest first (?rule=, limit=100)",
      [&u](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 100, 1, 1000));
        HTTP_TRY(Json j, u.AlertEvents(Q(req, "rule"), limit));
        return http::JsonResponse(200, j);
      });
  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::analysis
