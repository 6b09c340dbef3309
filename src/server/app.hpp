// App: the `aimass server` process: the list of modules (kModules in app.cpp) and the
// process-wide parts: configuration, the metadata store, metrics, the HTTP server with its
// middleware chain, and the gRPC server. The module manager opens and starts the modules in
// dependency order; Shutdown drains them and the servers.
#pragma once

#include <memory>

#include "common/status.hpp"
#include "config/config.hpp"

namespace aimass::server {

class App {
 public:
  explicit App(config::Config config);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Everything up to accepting connections; fails with a readable message (port in use,
  // unwritable data dir, bad key file…).
  Status Start();
  uint16_t port() const;
  // Graceful: /readyz turns 503, in-flight requests finish, then Wait returns.
  void Shutdown();
  void Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimass::server
