#include "http/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "common/log.hpp"
#include "common/random.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"

namespace aimass::http {

Pipeline::Pipeline(Router& router) : router_(router) { Rebuild(); }

void Pipeline::Use(std::shared_ptr<Middleware> mw) {
  middleware_.push_back(std::move(mw));
  Rebuild();
}

void Pipeline::Rebuild() {
  Next next = [](Request& req) -> Response {
    if (!req.early_error.ok()) return ErrorFor(req, req.early_error);
    try {
      return req.route->handler(req);
    } catch (const std::exception& e) {
      spdlog::error("handler for {} threw: {}", req.route->pattern, e.what());
      return ErrorFor(req, Status::Internal("internal error"));
    }
  };
  for (auto it = middleware_.rbegin(); it != middleware_.rend(); ++it) {
    std::shared_ptr<Middleware> mw = *it;
    next = [mw, next = std::move(next)](Request& req) { return mw->Handle(req, next); };
  }
  chain_ = std::move(next);
}

Status Pipeline::Match(Request& req) const {
  RouteMatch m = router_.Match(req.method, req.path);
  req.route = m.route;
  req.params = std::move(m.params);
  if (m.route) return Status::Ok();
  if (m.status.code() == Code::kNotFound) {
    if (!fallback_) return Status::NotFound("no route for " + req.path.substr(0, 200));
    req.route = fallback_;
    return Status::Ok();
  }
  return m.status;
}

Status Pipeline::Admit(Request& req) const {
  for (const auto& mw : middleware_) AIMASS_RETURN_IF_ERROR(mw->Admit(req));
  return Status::Ok();
}

Response Pipeline::Run(Request& req) const {
  Response r = chain_(req);
  if (req.early_error.code() == Code::kUnauthenticated) r.headers.Set("WWW-Authenticate", "Bearer");
  if (req.early_error.code() == Code::kMethodNotAllowed) {
    // Allow lists the methods this path has, as RFC 9110 asks.
    RouteMatch m = router_.Match(Method::kOther, req.path);
    std::string allow;
    bool has_get = false, has_head = false;
    for (Method a : m.allowed) {
      has_get |= a == Method::kGet;
      has_head |= a == Method::kHead;
      if (!allow.empty()) allow += ", ";
      allow += MethodName(a);
    }
    if (has_get && !has_head) allow += ", HEAD";  // GET routes answer HEAD too
    if (!allow.empty()) r.headers.Set("Allow", allow);
  }
  return r;
}

static bool SaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

static std::string NewRequestId() {
  std::string id;
  AppendUniqueHex(id, 16);
  return id;
}

Response RequestIdMiddleware::Handle(Request& req, const Next& next) {
  auto given = req.headers.Get("X-Request-Id");
  req.request_id = given && SaneRequestId(*given) ? std::string(*given) : NewRequestId();
  log::ScopedRequestId scoped(req.request_id);
  Response r = next(req);
  Finally(r, [&req](Response& done) { done.headers.Set("X-Request-Id", req.request_id); });
  return r;
}

Response AccessLogMiddleware::Handle(Request& req, const Next& next) {
  auto start = std::chrono::steady_clock::now();
  Response r = next(req);
  Finally(r, [&req, start](Response& done) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    // The path is logged without its query: queries may carry secrets (tokens in links).
    spdlog::info("access method={} path={} route={} status={} duration_ms={:.3f} remote={} user={}",
                 MethodName(req.method), req.path.substr(0, 512), req.route ? req.route->pattern : "unmatched",
                 done.status, ms, req.remote, req.principal ? req.principal->username : "-");
  });
  return r;
}

}  // namespace aimass::http
