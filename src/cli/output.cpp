#include "cli/output.hpp"

#include <iomanip>
#include <iostream>

namespace aimass::cli {

using nlohmann::json;

int Fail(const Status& st) {
  std::cerr << "error: " << st.message() << "\n";
  return kError;
}

void PrintTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      std::cout << std::left << std::setw(static_cast<int>(width[i]) + (i + 1 < cells.size() ? 2 : 0)) << cells[i];
    }
    std::cout << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string Join(const json& arr) {
  std::string out;
  for (const auto& v : arr) out += (out.empty() ? "" : ",") + v.get<std::string>();
  return out;
}

}  // namespace aimass::cli
