// Pipeline: the router plus the middleware chain every request passes through, in the order
// they were added (request id, access log, metrics, audit, access control).
// The server matches the route first (it must know whether to stream the body), then runs the
// chain; the last link calls the route's handler and turns exceptions into 500s.
// Thread-safety: configure before serving; Run is safe from many threads.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "http/message.hpp"
#include "http/router.hpp"

namespace aimass::http {

using Next = std::function<Response(Request&)>;

class Middleware {
 public:
  virtual ~Middleware() = default;
  virtual Response Handle(Request& req, const Next& next) = 0;
  // Runs after the header, before the server reads a request body, so that a request that
  // will be refused (no token, no permission) is refused before the server stores its body.
  // A non-ok Status becomes req.early_error.
  virtual Status Admit(Request& req) { return Status::Ok(); }
};

class Pipeline {
 public:
  explicit Pipeline(Router& router);

  void Use(std::shared_ptr<Middleware> mw);
  Router& router() { return router_; }

  // A route for every request whose path no route of the router knows (the gateway's user
  // routes, which change at run time and so live in their own table). Set before serving.
  void SetFallback(const Route* route) { fallback_ = route; }

  // Fills req.route and req.params; a non-ok Status when nothing can serve the request.
  Status Match(Request& req) const;
  // Before a body is read: each middleware's Admit, stopping at the first refusal.
  Status Admit(Request& req) const;
  // Runs the chain; when req.early_error is set the terminal link answers it instead of calling
  // the handler.
  Response Run(Request& req) const;

 private:
  Router& router_;
  const Route* fallback_ = nullptr;
  std::vector<std::shared_ptr<Middleware>> middleware_;
  Next chain_;
  void Rebuild();
};

// Middleware helpers that need nothing but the HTTP core.

// Takes X-Request-Id when it is sane (≤128 printable chars), otherwise generates one; echoes it.
class RequestIdMiddleware : public Middleware {
 public:
  Response Handle(Request& req, const Next& next) override;
};

// One log line per request: method, path, route, status, duration, request id, principal.
class AccessLogMiddleware : public Middleware {
 public:
  Response Handle(Request& req, const Next& next) override;
};

}  // namespace aimass::http
