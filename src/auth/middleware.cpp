#include "auth/middleware.hpp"

#include <spdlog/spdlog.h>
#include <strings.h>

#include "common/time.hpp"
#include "http/deferred_response.hpp"
#include "http/json.hpp"

namespace aimass::auth {

std::optional<std::string_view> BearerToken(const http::Request& req) {
  auto h = req.headers.Get("Authorization");
  if (!h) return std::nullopt;
  std::string_view v = *h;
  if (v.size() < 7 || strncasecmp(v.data(), "Bearer ", 7) != 0) return std::nullopt;
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  return v;
}

Status AccessControl::Check(http::Request& req) {
  // A principal is already there when the request was admitted before its body was read, or
  // when the gateway authenticated a consumer's own credential; the permission is checked
  // here in either case.
  if (!req.principal) {
    AIMASS_RETURN_IF_ERROR(Authenticate(req));
  }
  const std::string& permission = req.access ? req.access->permission : req.route->permission;
  if (!permission.empty() && !auth_.Authorize(*req.principal, permission)) {
    return Status::Forbidden("permission '" + permission + "' is required");
  }
  return Status::Ok();
}

Status AccessControl::Authenticate(http::Request& req) {
  auto token = BearerToken(req);
  if (!token) {
    return Status::Unauthenticated("this route needs Authorization: Bearer <token or API key>");
  }
  auto principal = auth_.Authenticate(*token);
  if (!principal.ok()) {
    const Status& st = principal.status();
    if (st.code() == Code::kUnauthenticated) return st;
    spdlog::error("authentication failed: {}", st.ToString());
    // The store that holds the credentials is away (a PostgreSQL outage): try again later.
    if (st.code() == Code::kUnavailable) return Status::Unavailable("authentication is unavailable: the metadata store cannot be reached");
    return Status::Internal("authentication is unavailable");
  }
  req.principal = std::move(principal).value();
  return Status::Ok();
}

static bool Anonymous(const http::Request& req) {
  return req.route == nullptr || (req.access ? req.access->anonymous : req.route->anonymous);
}

Status AccessControl::Admit(http::Request& req) {
  if (Anonymous(req)) return Status::Ok();
  return Check(req);
}

http::Response AccessControl::Handle(http::Request& req, const http::Next& next) {
  if (!req.early_error.ok() || Anonymous(req)) return next(req);
  if (Status st = Check(req); !st.ok()) {
    http::Response r = http::ErrorFor(req, st);
    if (st.code() == Code::kUnauthenticated) r.headers.Set("WWW-Authenticate", "Bearer");
    return r;
  }
  return next(req);
}

http::Response AuditLog::Handle(http::Request& req, const http::Next& next) {
  http::Response r = next(req);
  // Inference is a POST that changes nothing; it runs on I/O threads, where a synced audit
  // write must not happen (decision 30).
  if (!http::IsMutating(req.method) || (req.route && !req.route->audited)) return r;
  http::Finally(r, [this, &req](http::Response& done) { Record(req, done); });
  return r;
}

void AuditLog::Record(const http::Request& req, const http::Response& r) {
  AuditEntry e;
  e.time_ms = UnixNowMs();
  e.actor = req.principal ? req.principal->username
                          : (req.audit_actor.empty() ? "anonymous" : req.audit_actor);
  e.method = std::string(http::MethodName(req.method));
  e.path = req.path.substr(0, 1024);
  e.route = req.route ? req.route->pattern : "unmatched";
  e.status = r.status;
  e.request_id = req.request_id;
  e.remote = req.remote;
  if (Status st = auth_.RecordAudit(e); !st.ok()) {
    spdlog::error("audit record lost for {} {}: {}", e.method, e.path, st.ToString());
  }
}

}  // namespace aimass::auth
