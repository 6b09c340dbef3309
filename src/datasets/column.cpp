#include "datasets/column.hpp"

#include <array>

namespace aimass::datasets {

namespace {
constexpr std::array<std::string_view, 6> kTypeNames = {"integer", "float", "boolean", "string", "timestamp",
                                                        "categorical"};
}  // namespace

std::string_view TypeName(ColumnType t) { return kTypeNames[static_cast<size_t>(t)]; }

std::optional<ColumnType> ParseTypeName(std::string_view name) {
  for (size_t i = 0; i < kTypeNames.size(); ++i) {
    if (kTypeNames[i] == name) return static_cast<ColumnType>(i);
  }
  return std::nullopt;
}

nlohmann::json SchemaJson(const Schema& schema) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : schema) out.push_back({{"name", c.name}, {"type", TypeName(c.type)}, {"nullable", c.nullable}});
  return out;
}

Result<Schema> ParseSchema(const nlohmann::json& j) {
  if (!j.is_array() || j.empty()) return Status::BadRequest("a schema is a non-empty list of {name, type, nullable}");
  if (j.size() > 4096) return Status::BadRequest("a schema has at most 4,096 columns");
  Schema out;
  for (const auto& c : j) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string() || !c.contains("type") || !c["type"].is_string()) {
      return Status::BadRequest("each schema column is {name, type, nullable}");
    }
    ColumnSpec spec;
    spec.name = c["name"].get<std::string>();
    if (spec.name.empty() || spec.name.size() > 256) return Status::BadRequest("a column name is 1 to 256 bytes");
    if (FindColumn(out, spec.name) >= 0) return Status::BadRequest("column '" + spec.name + "' appears twice in the schema");
    auto type = ParseTypeName(c["type"].get<std::string>());
    if (!type) {
      return Status::BadRequest("column '" + spec.name +
                                "': type is integer, float, boolean, string, timestamp or categorical");
    }
    spec.type = *type;
    if (c.contains("nullable")) {
      if (!c["nullable"].is_boolean()) return Status::BadRequest("column '" + spec.name + "': nullable is true or false");
      spec.nullable = c["nullable"].get<bool>();
    }
    out.push_back(std::move(spec));
  }
  return out;
}

int FindColumn(const Schema& schema, std::string_view name) {
  for (size_t i = 0; i < schema.size(); ++i) {
    if (schema[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

size_t ColumnData::NullCount() const {
  size_t n = 0;
  for (uint8_t v : valid) n += v == 0;
  return n;
}

void ColumnData::MarkNull() {
  if (valid.empty()) valid.assign(rows, 1);
  valid.push_back(0);
}

ColumnBuilder::ColumnBuilder(ColumnType type, size_t expected_rows) {
  data_.type = type;
  if (IsStringType(type)) {
    data_.codes.reserve(expected_rows);
  } else if (type == ColumnType::kFloat) {
    data_.floats.reserve(expected_rows);
  } else {
    data_.ints.reserve(expected_rows);
  }
}

void ColumnBuilder::AppendNull() {
  data_.MarkNull();
  if (IsStringType(data_.type)) {
    AppendString("");
    data_.valid.back() = 0;
    return;
  }
  if (data_.type == ColumnType::kFloat) {
    data_.floats.push_back(0);
  } else {
    data_.ints.push_back(0);
  }
  ++data_.rows;
}

void ColumnBuilder::AppendInt(int64_t v) {
  if (!data_.valid.empty()) data_.valid.push_back(1);
  data_.ints.push_back(v);
  ++data_.rows;
}

void ColumnBuilder::AppendFloat(double v) {
  if (!data_.valid.empty()) data_.valid.push_back(1);
  data_.floats.push_back(v);
  ++data_.rows;
}

void ColumnBuilder::AppendString(std::string_view v) {
  // AppendNull calls this after marking the row null, so valid already has this row's byte.
  if (!data_.valid.empty() && data_.valid.size() == data_.rows) data_.valid.push_back(1);
  auto it = dict_.find(v);
  uint32_t code;
  if (it != dict_.end()) {
    code = it->second;
  } else {
    code = static_cast<uint32_t>(data_.dict_size());
    data_.dict_bytes.append(v);
    data_.dict_offsets.push_back(static_cast<uint32_t>(data_.dict_bytes.size()));
    dict_.emplace(std::string(v), code);
  }
  data_.codes.push_back(code);
  ++data_.rows;
}

ColumnData ColumnBuilder::Finish() {
  dict_.clear();
  return std::move(data_);
}

}  // namespace aimass::datasets
