// Module: one part of the platform (registry, serving, gateway, …) as the process sees it. A
// module names the modules it needs, brings its migrations, routes, gRPC services and
// middleware, and is opened, started, drained and stopped by the ModuleManager in dependency
// order. This is Grafana Loki's and Mimir's modules pattern (docs/architecture.md); a new
// module is written here and named once, in the list in server/app.cpp
// (docs/guide/adding-a-module.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "module/context.hpp"
#include "storage/db.hpp"

namespace grpc {
class Service;
}

namespace aimass::http {
class Middleware;
class Router;
struct Route;
}  // namespace aimass::http

namespace aimass::module {

// Where a module's middleware runs in the request path; server/app.cpp keeps the order:
// request id, access log and metrics first, then these, in this order.
enum class Stage {
  kObserve,    // sees every request and its answer (the audit log)
  kResolve,    // finds the route of a request no platform route knows (the gateway's routes)
  kAuthorize,  // last: may the caller do this? (authentication and RBAC)
};

struct StagedMiddleware {
  Stage stage;
  std::shared_ptr<http::Middleware> middleware;
};

class Module {
 public:
  virtual ~Module() = default;

  // Its name: lower case, unique; the key in /readyz and in needs() lists.
  virtual std::string_view name() const = 0;
  // The modules it uses; they are opened before it and stopped after it. Its CMake library
  // declares them in NEEDS (with the lower layers it uses); scripts/check-layering checks both.
  virtual std::vector<std::string_view> needs() const { return {}; }
  // Whether every process runs it, whatever `--target` says: its state lives in the shared
  // stores and every request needs it (auth, events, blobs).
  virtual bool core() const { return false; }
  // The URL path prefixes its routes live under ("/api/v1/models"): a gateway in a process
  // that does not run it routes them to the processes that do.
  virtual std::vector<std::string_view> paths() const { return {}; }
  // Whether its rows reference blobs: blob GC runs only in a process where it is open (as a
  // library at least), since only then can GC ask it what it still holds.
  virtual bool keeps_blobs() const { return false; }
  // Its tables; all modules' migrations run, in dependency order, before any module opens.
  virtual std::vector<storage::Migration> Migrations() const { return {}; }

  // Builds its parts and recovers what a crash left (pending writes, spooled uploads). The
  // modules it needs are open; the HTTP server is not listening yet.
  virtual Status Open(Context& ctx) = 0;
  // Its HTTP routes, gRPC services (owned by the module, alive until it is destroyed) and
  // middleware; called once, after every module opened.
  virtual Status RegisterRoutes(http::Router& router) { return Status::Ok(); }
  virtual std::vector<grpc::Service*> GrpcServices() { return {}; }
  virtual std::vector<StagedMiddleware> Middleware() { return {}; }
  // The route for requests no platform route knows (at most one module offers one).
  virtual const http::Route* FallbackRoute() { return nullptr; }

  // Background work that needs the servers listening (the scheduler's timers).
  virtual Status Start() { return Status::Ok(); }
  // Shutdown began: answer waiting clients now (long polls) and stop taking new work; the
  // servers still finish requests in flight.
  virtual void Drain() {}
  // The servers have stopped: stop threads and flush. Called in reverse dependency order.
  virtual void Stop() {}
  // Whether it can serve now (ok: "ready" in /readyz; otherwise the message is shown).
  virtual Status Health() const { return Status::Ok(); }
};

// The list server/app.cpp holds: every module the binary has, each made on demand.
using ModuleFactory = std::unique_ptr<Module> (*)();

}  // namespace aimass::module
