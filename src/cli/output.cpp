#include "cli/output.hpp"

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <iterator>
#include "common/file.hpp"

namespace aimass::cli {

using nlohmann::json;

int PrintJson(const nlohmann::json& j, bool as_json) {
  std::cout << (as_json ? j.dump() : j.dump(2)) << "\n";
  return kOk;
}

Result<nlohmann::json> ParseSetFields(const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::BadRequest("--set must be a JSON object");
  return j;
}

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

std::string Cell(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

Result<std::string> ReadFileOrStdin(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  return ReadFile(path);
}

Result<nlohmann::json> JsonArgument(const std::string& value, const char* what) {
  std::string text = value;
  if (!value.empty() && value.front() == '@') {
    AIMASS_ASSIGN_OR_RETURN(text, ReadFile(value.substr(1)));
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::BadRequest(std::string(what) + " is not JSON");
  return j;
}

std::string NumberCell(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (!v.is_number()) return v.is_string() ? v.get<std::string>() : v.dump();
  const double d = v.get<double>();
  char buf[40];
  if (d == std::trunc(d) && std::fabs(d) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", d);
  else std::snprintf(buf, sizeof buf, "%.10g", d);
  return buf;
}

}  // namespace aimass::cli
