// A list of strings kept as a JSON array in a text column (role permissions, model tags).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aimass {

std::string StringListToJson(const std::vector<std::string>& items);
// Lenient, for stored data: anything but an array yields {}; non-string members are skipped.
std::vector<std::string> StringListFromJson(std::string_view json);

}  // namespace aimass
