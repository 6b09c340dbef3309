// Routes every process serves whatever its modules: health, readiness (with each module's
// state), metrics, OpenAPI, the API docs page, and the failpoint admin API.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>

#include <string>
#include <utility>
#include <vector>

#include "http/router.hpp"
#include "http/traffic_history.hpp"
#include "module/context.hpp"
#include "storage/db.hpp"

namespace prometheus {
class Registry;
}

namespace aimass::server {

struct CoreDeps {
  storage::Db* db = nullptr;
  std::shared_ptr<prometheus::Registry> metrics;
  std::shared_ptr<http::TrafficHistory> traffic;  // the last hour of HTTP traffic
  const std::atomic<bool>* ready = nullptr;
  // Each module's state ("ready", "starting", … or why not), for /readyz; `all_ready` when
  // every module is ready.
  std::function<std::vector<std::pair<std::string, std::string>>(bool* all_ready)> modules;
  // The modules' hooks: gauges to refresh before a scrape, service paths for /openapi.json.
  const module::Hooks* hooks = nullptr;
  // Where the modules run, for /readyz: served here, opened here as libraries, and served by
  // other processes (module -> its paths, which a gateway here routes to them).
  std::vector<std::string> served;
  std::vector<std::string> libraries;
  std::map<std::string, std::vector<std::string>> remote;
};

// /healthz, /readyz, /metrics, /openapi.json and /docs.
Status RegisterCoreRoutes(http::Router& router, const CoreDeps& deps);

// /api/v1/admin/failpoints (only when `failpoints_api` is on): list, arm and disarm
// failpoints at run time; admin only (permission failpoints:write / failpoints:read).
Status RegisterFailpointRoutes(http::Router& router);

// The OpenAPI 3 document for the route table.
std::string OpenApiDocument(const http::Router& router);

}  // namespace aimass::server
