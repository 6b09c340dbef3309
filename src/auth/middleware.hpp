// The HTTP side of auth: AccessControl is the single place where every request is
// authenticated and authorised against its route's declared permission; AuditLog records every
// mutating request with who, what, when and the result.
#pragma once

#include "auth/auth.hpp"
#include "http/pipeline.hpp"

namespace aimass::auth {

// The credential of "Authorization: Bearer <credential>", trimmed; nullopt when there is none.
std::optional<std::string_view> BearerToken(const http::Request& req);

class AccessControl : public http::Middleware {
 public:
  explicit AccessControl(AuthService& auth) : auth_(auth) {}
  http::Response Handle(http::Request& req, const http::Next& next) override;
  // The same check, before a request body is read.
  Status Admit(http::Request& req) override;

 private:
  Status Check(http::Request& req);
  Status Authenticate(http::Request& req);
  AuthService& auth_;
};

class AuditLog : public http::Middleware {
 public:
  explicit AuditLog(AuthService& auth) : auth_(auth) {}
  http::Response Handle(http::Request& req, const http::Next& next) override;

 private:
  void Record(const http::Request& req, const http::Response& r);
  AuthService& auth_;
};

}  // namespace aimass::auth
