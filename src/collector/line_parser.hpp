// Turns one line of a log or data file into a row (a JSON object): a JSON object as it is, a
// CSV line under its header, or a regular expression's named groups. A line that does not
// parse is an error naming why; the collector puts it on its rejected list.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace re2 {
class RE2;
}

namespace aimass::collector {

class LineParser {
 public:
  // From a source document's format, pattern and columns (checked by ParseCollectorSpec).
  explicit LineParser(const nlohmann::json& source);
  ~LineParser();
  LineParser(LineParser&&) noexcept;

  // CSV only: whether the next line is a header (no `columns` given and none read yet).
  bool wants_header() const { return csv_ && header_.empty(); }
  // CSV: takes the header line.
  Status SetHeader(std::string_view line);
  const std::vector<std::string>& header() const { return header_; }
  void set_header(std::vector<std::string> h) { header_ = std::move(h); }
  bool csv() const { return csv_; }

  Result<nlohmann::json> Parse(std::string_view line) const;

 private:
  bool csv_ = false;
  std::unique_ptr<re2::RE2> regex_;
  std::vector<std::string> header_;
};

// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields) into fields.
Result<std::vector<std::string>> SplitCsvLine(std::string_view line);

}  // namespace aimass::collector
