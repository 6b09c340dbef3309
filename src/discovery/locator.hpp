// Locator: where a module of the platform is served when --target left it out of this
// process: at the instances other processes announced (service "aimass-<module>"). The
// clients of a module in another process (the scheduler's HTTP and queue targets, serving's
// artifact downloads) ask it for a base URL at each call, so that they follow restarts and
// deaths as the gateway does. Thread-safe.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.hpp"
#include "discovery/discovery.hpp"

namespace aimass::discovery {

class Locator {
 public:
  // `remote_paths`: path prefix -> module, for the modules this process does not serve.
  Locator(Discovery& discovery, std::vector<std::pair<std::string, std::string>> remote_paths)
      : discovery_(discovery), remote_paths_(std::move(remote_paths)) {}

  // The module that serves `path` in another process, or "" when it is served here (or by no
  // module: the process's own routes).
  std::string RemoteModuleFor(std::string_view path) const;
  // The base URL (http://host:port) of a live instance of `module`, taken in turn among them
  // so that callers spread over the instances; unavailable when none is announced.
  Result<std::string> UrlOf(std::string_view module);

 private:
  Discovery& discovery_;
  const std::vector<std::pair<std::string, std::string>> remote_paths_;
  std::atomic<uint64_t> turn_{0};
};

}  // namespace aimass::discovery
