// Password hashing with argon2id (PHC string format, parameters embedded in the hash, so they
// can be raised later without invalidating stored hashes).
#pragma once

#include <string>

#include "common/random.hpp"
#include "common/status.hpp"

namespace aimass::auth {

Result<std::string> HashPassword(const std::string& password);
bool VerifyPassword(const std::string& password, const std::string& encoded_hash);

// Generated passwords, secrets and API keys.
using aimass::RandomToken;

}  // namespace aimass::auth
