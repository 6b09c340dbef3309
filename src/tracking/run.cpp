#include "tracking/run.hpp"

#include <cctype>

namespace aimass::tracking {

bool TerminalStatus(const std::string& status) {
  return status == "succeeded" || status == "failed" || status == "cancelled";
}

std::string NormalizeStatus(const std::string& s) {
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "queued" || lower == "running" || lower == "succeeded" || lower == "failed" || lower == "cancelled") {
    return lower;
  }
  if (lower == "finished") return "succeeded";
  if (lower == "killed") return "cancelled";
  if (lower == "scheduled") return "queued";
  return "";
}

}  // namespace aimass::tracking
