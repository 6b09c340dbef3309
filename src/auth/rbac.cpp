#include "auth/rbac.hpp"

namespace aimass::auth {

const std::vector<Role>& BuiltinRoles() {
  // Viewers and developers do not get *:read: user lists and the audit log are for admins.
  static const std::vector<std::string> kReads = {
      "models:read",    "deployments:read", "datasets:read", "pipelines:read", "mq:read",
      "cron:read",      "blobs:read",       "gateway:read",  "apikeys:read",   "apps:read",
      "jobs:read",      "cluster:read",     "collectors:read", "experiments:read",
      "search:read",    "assist:read", "recommend:read", "cubes:read", "behavior:read", "crowd:read",
      "analysis:read", "labelling:read", "usage:read"};
  static const std::vector<Role> roles = [] {
    std::vector<Role> r;
    r.push_back({"admin", {"*:*"}, true});
    std::vector<std::string> dev = kReads;
    for (const char* p : {"models:write", "deployments:write", "datasets:write", "pipelines:write",
                          "mq:publish", "mq:consume", "mq:write", "cron:write", "blobs:write",
                          "inference:invoke", "apikeys:write", "apps:write", "gateway:register", "jobs:write",
                          "collectors:write", "collectors:push", "experiments:write", "search:write",
                          "assist:write", "assist:chat", "assist:agent", "recommend:write", "cubes:write", "behavior:write", "behavior:capture", "crowd:write",
                          "analysis:write", "labelling:write", "labelling:annotate", "labelling:review", "usage:write"}) {
      dev.emplace_back(p);
    }
    r.push_back({"developer", dev, true});
    std::vector<std::string> viewer = kReads;
    viewer.emplace_back("apikeys:write");  // their own keys, acting with their own roles
    r.push_back({"viewer", viewer, true});
    return r;
  }();
  return roles;
}

static std::pair<std::string_view, std::string_view> Split(std::string_view p) {
  size_t colon = p.find(':');
  if (colon == std::string_view::npos) return {p, {}};
  return {p.substr(0, colon), p.substr(colon + 1)};
}

bool Allows(const std::vector<std::string>& granted, std::string_view required) {
  auto [res, act] = Split(required);
  for (const auto& g : granted) {
    auto [gres, gact] = Split(g);
    if ((gres == "*" || gres == res) && (gact == "*" || gact == act)) return true;
  }
  return false;
}

Status ValidatePermission(std::string_view permission) {
  auto bad = [&] {
    return Status::BadRequest("permission '" + std::string(permission.substr(0, 100)) +
                              "' must look like resource:action");
  };
  size_t colon = permission.find(':');
  if (colon == std::string_view::npos || permission.find(':', colon + 1) != std::string_view::npos) {
    return bad();
  }
  for (std::string_view side : {permission.substr(0, colon), permission.substr(colon + 1)}) {
    if (side.empty() || side.size() > 64) return bad();
    if (side == "*") continue;
    for (char c : side) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
      if (!ok) return bad();
    }
  }
  return Status::Ok();
}

Status MayActOnTopic(const Principal& who, std::string_view topic, std::string_view action) {
  std::string act(action);
  if (Allows(who.permissions, "mq:" + act) || Allows(who.permissions, "mq." + std::string(topic) + ":" + act)) {
    return Status::Ok();
  }
  return Status::Forbidden("mq:" + act + " on topic '" + std::string(topic.substr(0, 128)) + "' is required");
}

}  // namespace aimass::auth
