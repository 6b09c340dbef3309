// ModuleManager: runs a process's modules as one: orders them so each follows the modules it
// needs, gathers their migrations, opens and starts them in that order, drains and stops them
// in reverse, and says for /readyz where each one is.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "module/module.hpp"

namespace aimass::module {

class ModuleManager {
 public:
  // `target`: the modules this process serves (routes, gRPC services, middleware, background
  // work), besides the core ones every process serves; empty: all. A module a served one
  // needs is opened too, as a library over the shared stores (no routes, no background
  // work). The rest are not opened; their paths() are what the gateway routes elsewhere.
  // Fails when two modules share a name, a module needs one that is not in the list, the
  // needs form a cycle, or `target` names a module that does not exist.
  static Result<std::unique_ptr<ModuleManager>> Create(std::vector<std::unique_ptr<Module>> modules,
                                                       const std::vector<std::string>& target = {});
  // Stops what is still running, then destroys the modules in reverse dependency order.
  ~ModuleManager();
  ModuleManager(const ModuleManager&) = delete;
  ModuleManager& operator=(const ModuleManager&) = delete;

  // The modules this process serves, in dependency order.
  std::vector<Module*> modules() const;
  // Opened only because a served module needs them.
  std::vector<std::string> libraries() const;
  // Path prefix -> module, for the modules this process does not serve.
  std::vector<std::pair<std::string, std::string>> RemotePaths() const;
  // The modules not opened here that keep blobs.
  std::vector<std::string> AbsentBlobKeepers() const;
  std::vector<storage::Migration> Migrations() const;
  // The module called `name`, or null.
  Module* Find(std::string_view name) const;
  template <class M>
  M* Find() const {
    return dynamic_cast<M*>(Find(M::kName));
  }

  // Opens each module in order, each seeing only what it declared.
  Status Open(const config::Config& config, storage::Db& db, std::shared_ptr<prometheus::Registry> metrics,
              Hooks& hooks);
  Status RegisterRoutes(http::Router& router);
  Status Start();
  void Drain();
  void Stop();

  // Each module's state for /readyz, in order: "ready", "starting", "stopping", "stopped", or
  // why it cannot serve. `all_ready` when every one is "ready".
  std::vector<std::pair<std::string, std::string>> Readiness(bool* all_ready) const;

 private:
  enum State : int { kNew, kOpen, kStarted, kDraining, kStopped };
  struct Entry {
    std::unique_ptr<Module> module;
    bool served = true;
    std::atomic<int> state{kNew};
  };
  ModuleManager() = default;
  std::vector<std::unique_ptr<Entry>> entries_;  // dependency order
  std::vector<std::unique_ptr<Module>> absent_;  // not opened in this process
};

}  // namespace aimass::module
