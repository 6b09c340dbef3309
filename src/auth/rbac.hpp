// RBAC: permissions are "resource:action" strings; a role is a named set of them; `*` stands
// for any resource or any action. Allows() is the one authorisation decision every route and
// every module goes through.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/principal.hpp"
#include "common/status.hpp"

namespace aimass::auth {

struct Role {
  std::string name;
  std::vector<std::string> permissions;
  bool builtin = false;
};

// admin, developer, viewer.
const std::vector<Role>& BuiltinRoles();

// True when one of `granted` covers `required` ("models:write" is covered by "models:write",
// "models:*", "*:write" and "*:*").
bool Allows(const std::vector<std::string>& granted, std::string_view required);

// The message queue's rule, here because the scheduler (a cron job publishing to a topic) and
// the queue's HTTP and gRPC APIs decide alike: `mq:<action>` over every topic, or
// `mq.<topic>:<action>` over one (a subscription's pattern counts as its topic).
Status MayActOnTopic(const Principal& who, std::string_view topic, std::string_view action);

// Checks the "resource:action" shape: each side `*` or [a-z0-9_.-]+.
Status ValidatePermission(std::string_view permission);

}  // namespace aimass::auth
