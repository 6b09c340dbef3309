#include "steps/csv_records.hpp"

namespace aimass::steps {

Result<std::vector<std::string_view>> CsvRecords(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      quoted = !quoted;  // "" inside quotes toggles twice: still quoted
    } else if (c == '\n' && !quoted) {
      size_t end = i > start && text[i - 1] == '\r' ? i - 1 : i;
      out.push_back(text.substr(start, end - start));
      start = i + 1;
    }
  }
  if (quoted) return Status::BadRequest("CSV: a quoted field is not closed");
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

std::vector<std::string> CsvFields(std::string_view record) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < record.size(); ++i) {
    char c = record[i];
    if (quoted) {
      if (c == '"' && i + 1 < record.size() && record[i + 1] == '"') {
        out.back().push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back().push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

}  // namespace aimass::steps
