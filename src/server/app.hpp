// App: the `aimass server` process. Opens storage, applies every module's migrations, builds
// the route table and the middleware chain, and runs the HTTP server until Shutdown. Modules
// plug in here: each contributes its migrations and its routes.
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
