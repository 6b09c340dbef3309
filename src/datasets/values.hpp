// Values as text: what counts as missing, how integers, floats, booleans and timestamps are
// read from a CSV field or a JSON value, how they are written back, and how a column's type is
// inferred from all of its values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "datasets/column.hpp"

namespace aimass::datasets {

// The empty field, and the tokens pandas reads as missing: NA, N/A, null, NULL, NaN, nan,
// None. In a column inferred as string only the empty field is missing (a string "NA" stays).
bool IsNullToken(std::string_view s);

std::optional<int64_t> ParseInteger(std::string_view s);
std::optional<double> ParseFloat(std::string_view s);
std::optional<bool> ParseBoolean(std::string_view s);  // true/false in any case
// ISO 8601: YYYY-MM-DD, with [T ]HH:MM[:SS[.fraction]] and Z or ±HH[:]MM; microseconds, UTC.
std::optional<int64_t> ParseTimestamp(std::string_view s);
// 2010-12-01T08:26:00Z; with .ffffff when the time has a fraction of a second.
std::string FormatTimestamp(int64_t micros);
// The shortest text that reads back as the same double (std::to_chars).
std::string FormatFloat(double v);

// A CSV field: as it is, or quoted (quotes doubled) when it holds a comma, a quote or a line break.
void AppendCsvField(std::string& out, std::string_view v);
// One stored value as text (strings raw; the caller quotes them for CSV or JSON).
std::string ValueText(const ColumnData& c, size_t row);

// Infers a column's type from the text of its values: boolean, integer, float, timestamp, then
// categorical (a string column with at most 1,000 distinct values, each seen twice on average)
// or string. A column with no values at all is a string.
class TypeGuess {
 public:
  void Add(std::string_view value);
  ColumnType Result() const;
  // Whether a column of `type` read from these values has missing ones: in a string column only
  // empty fields are missing.
  bool Nullable(ColumnType type) const {
    if (values_ == 0) return true;  // no values at all: nothing says one is required
    return IsStringType(type) ? saw_empty_ : saw_null_;
  }

 private:
  static constexpr uint8_t kInt = 1, kFloat = 2, kBool = 4, kTime = 8;
  uint8_t candidates_ = kInt | kFloat | kBool | kTime;
  bool saw_null_ = false;
  bool saw_empty_ = false;  // only the empty field is missing in a string column
  uint64_t values_ = 0;     // non-missing values
  bool many_distinct_ = false;
  std::unordered_set<uint64_t> distinct_;
};

// Reads `text` as a value of `type` into `out`; false when it is not one. Missing values are
// the caller's (IsNullToken) to decide before.
class ColumnBuilder;
bool AppendParsed(ColumnBuilder& out, ColumnType type, std::string_view text);

}  // namespace aimass::datasets
