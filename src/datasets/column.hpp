// The column types of a table dataset, its schema, and one column's values in memory: what the
// segment format stores, and what the profiler, the expectations and readers work on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::datasets {

// Integers, timestamps and booleans are stored as int64 (timestamps in microseconds since the
// Unix epoch, UTC; booleans 0/1); floats as double; strings and categoricals as a dictionary
// and a code per row. Categorical is a string column whose values repeat (few distinct).
enum class ColumnType : uint8_t { kInteger = 0, kFloat = 1, kBoolean = 2, kString = 3, kTimestamp = 4, kCategorical = 5 };

std::string_view TypeName(ColumnType t);
std::optional<ColumnType> ParseTypeName(std::string_view name);
inline bool IsStringType(ColumnType t) { return t == ColumnType::kString || t == ColumnType::kCategorical; }
inline bool IsIntType(ColumnType t) {
  return t == ColumnType::kInteger || t == ColumnType::kTimestamp || t == ColumnType::kBoolean;
}
inline bool IsNumericType(ColumnType t) { return t == ColumnType::kInteger || t == ColumnType::kFloat; }

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::kString;
  bool nullable = true;
};
using Schema = std::vector<ColumnSpec>;

// [{"name","type","nullable"}…]
nlohmann::json SchemaJson(const Schema& schema);
// A declared schema in that shape; names unique, at most 256 bytes, types known.
Result<Schema> ParseSchema(const nlohmann::json& j);

// The index of column `name`, or -1.
int FindColumn(const Schema& schema, std::string_view name);

// One column over a run of rows.
struct ColumnData {
  ColumnType type = ColumnType::kString;
  size_t rows = 0;
  std::vector<uint8_t> valid;  // empty while there are no nulls; else one byte per row (1: present)
  std::vector<int64_t> ints;   // integer, timestamp, boolean
  std::vector<double> floats;  // float
  std::vector<uint32_t> codes;                 // string: the row's index into the dictionary
  std::vector<uint32_t> dict_offsets = {0};    // string: dictionary entry i is [offsets[i], offsets[i+1])
  std::string dict_bytes;

  bool IsNull(size_t i) const { return !valid.empty() && !valid[i]; }
  size_t dict_size() const { return dict_offsets.size() - 1; }
  std::string_view Entry(uint32_t code) const {
    return {dict_bytes.data() + dict_offsets[code], dict_offsets[code + 1] - dict_offsets[code]};
  }
  std::string_view Str(size_t i) const { return Entry(codes[i]); }
  size_t NullCount() const;
  // A null in row `rows` (the values' slot holds 0 or the empty string).
  void MarkNull();
};

// Builds a ColumnData row by row; strings are deduplicated into the dictionary.
class ColumnBuilder {
 public:
  explicit ColumnBuilder(ColumnType type, size_t expected_rows = 0);
  void AppendNull();
  void AppendInt(int64_t v);
  void AppendFloat(double v);
  void AppendString(std::string_view v);
  ColumnData Finish();
  size_t rows() const { return data_.rows; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  ColumnData data_;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> dict_;
};

}  // namespace aimass::datasets
