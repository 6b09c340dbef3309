#include "common/name.hpp"

#include <string>

namespace aimass {

Status ValidateName(std::string_view kind, std::string_view name, size_t max_len) {
  if (!name.empty() && name.size() <= max_len) {
    bool ok = true;
    for (size_t i = 0; i < name.size() && ok; ++i) {
      char c = name[i];
      bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      ok = alnum || (i > 0 && (c == '.' || c == '_' || c == '-'));
    }
    if (ok) return Status::Ok();
  }
  return Status::BadRequest(std::string(kind) + " name must match [a-z0-9][a-z0-9._-]{0," +
                            std::to_string(max_len - 1) + "}");
}

}  // namespace aimass
