// The auth module's HTTP routes: /api/v1/auth, /users, /roles, /apikeys, /audit.
#pragma once

#include "auth/auth.hpp"
#include "http/router.hpp"

namespace aimass::auth {

Status RegisterRoutes(http::Router& router, AuthService& auth);

}  // namespace aimass::auth
