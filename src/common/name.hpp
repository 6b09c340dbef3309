// The one rule for names that reach URLs, file systems and logs (users, roles, models,
// aliases, tags, topics): [a-z0-9][a-z0-9._-]{0,max_len-1}. Anything else — upper case,
// slashes, dots in front, NUL — is bad_request, which keeps path tricks out.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.hpp"

namespace aimass {

Status ValidateName(std::string_view kind, std::string_view name, size_t max_len);

}  // namespace aimass
