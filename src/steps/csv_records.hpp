// The records of a CSV text (RFC 4180: quoted fields may hold commas, quotes as "" and line
// breaks), as views into it, and one field of a record. What the built-in steps need to split
// and route rows without rewriting them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::steps {

// Each record without its line break; a final line break is optional. An unterminated quote
// is bad_request.
Result<std::vector<std::string_view>> CsvRecords(std::string_view text);

// The fields of one record, unquoted.
std::vector<std::string> CsvFields(std::string_view record);

}  // namespace aimass::steps
