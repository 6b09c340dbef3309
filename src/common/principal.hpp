// Principal: who is making a request, as established by authentication. Plain data so that the
// HTTP core (and every module) can carry it without knowing how tokens work; auth makes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aimass {

struct Principal {
  int64_t user_id = 0;
  std::string username;
  std::vector<std::string> roles;
  std::vector<std::string> permissions;  // the union of the roles' permissions
  std::string method;                    // "jwt" or "apikey"
  std::string token_id;                  // JWT jti or API key id
  int64_t token_expires_at = 0;          // unix seconds, 0 = never
};

}  // namespace aimass
