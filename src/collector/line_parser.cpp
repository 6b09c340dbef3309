#include "collector/line_parser.hpp"

#include <re2/re2.h>

namespace aimass::collector {

using nlohmann::json;

Result<std::vector<std::string>> SplitCsvLine(std::string_view line) {
  std::vector<std::string> out;
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) return Status::BadRequest("a quoted field is not closed");
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      if (i < line.size() && line[i] != ',') return Status::BadRequest("text after a closing quote");
    } else {
      size_t comma = line.find(',', i);
      field.assign(line.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
      i = comma == std::string_view::npos ? line.size() : comma;
    }
    out.push_back(field);
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return out;
}

LineParser::LineParser(const json& source) {
  std::string format = source.value("format", "json");
  csv_ = format == "csv";
  if (format == "regex") regex_ = std::make_unique<RE2>(source["pattern"].get<std::string>(), RE2::Quiet);
  if (source.contains("columns")) {
    for (const auto& c : source["columns"]) header_.push_back(c.get<std::string>());
  }
}

LineParser::~LineParser() = default;
LineParser::LineParser(LineParser&&) noexcept = default;

Status LineParser::SetHeader(std::string_view line) {
  AIMASS_ASSIGN_OR_RETURN(header_, SplitCsvLine(line));
  return Status::Ok();
}

Result<json> LineParser::Parse(std::string_view line) const {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (regex_) {
    const int n = regex_->NumberOfCapturingGroups();
    std::vector<re2::StringPiece> groups(static_cast<size_t>(n) + 1);
    if (!regex_->Match(re2::StringPiece(line.data(), line.size()), 0, line.size(), RE2::UNANCHORED, groups.data(),
                       static_cast<int>(groups.size()))) {
      return Status::BadRequest("the line does not match the pattern");
    }
    json row = json::object();
    for (const auto& [name, index] : regex_->NamedCapturingGroups()) {
      const re2::StringPiece& g = groups[static_cast<size_t>(index)];
      row[name] = g.data() ? json(std::string(g.data(), g.size())) : json(nullptr);
    }
    return row;
  }
  if (csv_) {
    AIMASS_ASSIGN_OR_RETURN(auto fields, SplitCsvLine(line));
    if (fields.size() != header_.size()) {
      return Status::BadRequest("the line has " + std::to_string(fields.size()) + " fields, the header " +
                                std::to_string(header_.size()));
    }
    json row = json::object();
    for (size_t i = 0; i < fields.size(); ++i) row[header_[i]] = fields[i].empty() ? json(nullptr) : json(fields[i]);
    return row;
  }
  json row = json::parse(line, nullptr, false);
  if (row.is_discarded()) return Status::BadRequest("not valid JSON");
  if (!row.is_object()) return Status::BadRequest("not a JSON object");
  return row;
}

}  // namespace aimass::collector
