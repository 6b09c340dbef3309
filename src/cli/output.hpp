// Output of the CLI: human tables, and the one way errors are printed (exit code 1).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::cli {

constexpr int kOk = 0;
constexpr int kError = 1;
constexpr int kUsage = 2;

// Prints "error: <message>" on stderr and returns kError.
int Fail(const Status& st);
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
// An API answer: compact with --json (for scripts), indented for people. Returns kOk.
int PrintJson(const nlohmann::json& j, bool as_json);
// `--set '{…}'`: any further fields of an API document; bad_request unless a JSON object.
Result<nlohmann::json> ParseSetFields(const std::string& text);
// A member of an API answer for a table cell: a string as it is, anything else as JSON, "-"
// when absent or null.
std::string Cell(const nlohmann::json& j, const char* key);
// A number as people read it: whole numbers without a fraction, others with up to ten digits;
// "" for null, text as it is.
std::string NumberCell(const nlohmann::json& v);
// A file's bytes, or standard input's for "-".
Result<std::string> ReadFileOrStdin(const std::string& path);
// A JSON option's value: JSON text, or @file to read it from; `what` names it in errors.
Result<nlohmann::json> JsonArgument(const std::string& value, const char* what);
// ["a","b"] -> "a,b"
std::string Join(const nlohmann::json& arr);

}  // namespace aimass::cli
