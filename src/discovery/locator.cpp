#include "discovery/locator.hpp"

namespace aimass::discovery {

std::string Locator::RemoteModuleFor(std::string_view path) const {
  for (const auto& [prefix, module] : remote_paths_) {
    // Whole segments only: /api/v1/models holds /api/v1/models/x, not /api/v1/models-x.
    if (path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/' ||
                                     path[prefix.size()] == '?')) {
      return module;
    }
  }
  return "";
}

Result<std::string> Locator::UrlOf(std::string_view module) {
  const std::string service = std::string(kPlatformServicePrefix) + std::string(module);
  AIMASS_ASSIGN_OR_RETURN(std::vector<Instance> live, discovery_.Instances(service));
  if (live.empty()) {
    return Status::Unavailable("no process of the platform serves module '" + std::string(module) +
                               "' now (no live " + service + " instance)");
  }
  return live[turn_.fetch_add(1, std::memory_order_relaxed) % live.size()].url;
}

}  // namespace aimass::discovery
