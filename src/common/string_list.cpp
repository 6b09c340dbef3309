#include "common/string_list.hpp"

#include <nlohmann/json.hpp>

namespace aimass {

std::string StringListToJson(const std::vector<std::string>& items) {
  return nlohmann::json(items).dump();
}

std::vector<std::string> StringListFromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    if (e.is_string()) out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace aimass
