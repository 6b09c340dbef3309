// Context: what the process hands each module when it opens: the configuration, the metadata
// store, the metrics registry, the modules it declared, and hooks into the process-wide parts
// (metrics scrapes, /openapi.json, the HTTP server's upload spool, the server's own URL).
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "config/config.hpp"
#include "storage/db.hpp"

namespace prometheus {
class Registry;
}

namespace aimass::module {

class Module;

// The process-wide parts modules plug into; filled by modules as they open, read by the app.
struct Hooks {
  // Run before /metrics renders, to bring gauges read from elsewhere up to date.
  std::vector<std::function<void()>> before_scrape;
  // Paths of services outside the platform's route table, merged into /openapi.json (each an
  // OpenAPI `paths` object as JSON).
  std::vector<std::function<std::string()>> openapi_paths;
  // Where the HTTP server spools streamed request bodies: beside the blob store, so that a
  // finished upload is renamed into place, not copied.
  std::string upload_spool_dir;
  // The base URL (http://host:port) of this process's HTTP server, once it listens.
  std::function<std::string()> platform_url;
  // The modules this process serves (announced to the others), and the platform paths it
  // does not serve, with the module that does (routed by a gateway here; none in a monolith,
  // which has nothing to announce or route). Set before Open.
  std::vector<std::string> served_modules;
  std::vector<std::pair<std::string, std::string>> remote_paths;
  // Whether this process serves `module` (not only opens it as a library).
  bool serves(std::string_view module) const {
    return std::find(served_modules.begin(), served_modules.end(), module) != served_modules.end();
  }
  // Modules that keep blobs (Module::keeps_blobs) but are not open here: blob GC is refused.
  std::vector<std::string> absent_blob_keepers;
  // What must hold before this process announces itself to the others (serving: no deployment
  // still loading), so that a gateway routes to it only once it can answer.
  std::vector<std::function<bool()>> announce_when;
};

class Context {
 public:
  Context(const config::Config& config, storage::Db& db, std::shared_ptr<prometheus::Registry> metrics, Hooks& hooks,
          std::function<Module*(std::string_view)> find)
      : config_(config), db_(db), metrics_(std::move(metrics)), hooks_(hooks), find_(std::move(find)) {}

  const config::Config& config() const { return config_; }
  storage::Db& db() const { return db_; }
  const std::shared_ptr<prometheus::Registry>& metrics() const { return metrics_; }
  Hooks& hooks() const { return hooks_; }

  // A module this one named in needs() (M::kName), already open. An undeclared or absent one
  // is an error: a module sees only what it declared.
  template <class M>
  Result<M*> Need() const {
    Module* m = find_(M::kName);
    if (m == nullptr) return Status::Internal("module " + std::string(M::kName) + " is not declared or not open");
    auto* typed = dynamic_cast<M*>(m);
    if (typed == nullptr) return Status::Internal("module " + std::string(M::kName) + " has an unexpected type");
    return typed;
  }

 private:
  const config::Config& config_;
  storage::Db& db_;
  std::shared_ptr<prometheus::Registry> metrics_;
  Hooks& hooks_;
  std::function<Module*(std::string_view)> find_;
};

}  // namespace aimass::module
