#include "serving/tensor.hpp"

#include <array>
#include <cstring>

namespace aimass::serving {

namespace {
struct TypeInfo {
  DataType type;
  const char* name;
  size_t size;
};
constexpr std::array<TypeInfo, 13> kTypes = {{
    {DataType::kBool, "BOOL", 1},     {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2}, {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},   {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},   {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},     {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
}};
}  // namespace

std::string_view DataTypeName(DataType t) { return kTypes[static_cast<size_t>(t)].name; }

std::optional<DataType> ParseDataType(std::string_view name) {
  for (const auto& i : kTypes) {
    if (name == i.name) return i.type;
  }
  return std::nullopt;
}

size_t ElementSize(DataType t) { return kTypes[static_cast<size_t>(t)].size; }

int64_t Tensor::ElementCount() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

Status Tensor::CheckSize() const {
  int64_t n = ElementCount();
  if (n < 0) return Status::BadRequest("tensor '" + name + "' has an invalid shape " + ShapeString(shape));
  if (dtype == DataType::kBytes) {
    // Walk the length prefixes: exactly n elements, nothing left over.
    size_t off = 0;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t len = 0;
      if (data.size() - off < 4) {
        return Status::BadRequest("tensor '" + name + "' holds fewer than the " + std::to_string(n) +
                                  " BYTES elements its shape " + ShapeString(shape) + " needs");
      }
      std::memcpy(&len, data.data() + off, 4);
      off += 4;
      if (data.size() - off < len) {
        return Status::BadRequest("tensor '" + name + "' has a BYTES element longer than its data");
      }
      off += len;
    }
    if (off != data.size()) {
      return Status::BadRequest("tensor '" + name + "' holds more data than its shape " +
                                ShapeString(shape) + " says");
    }
    return Status::Ok();
  }
  uint64_t want = static_cast<uint64_t>(n) * ElementSize(dtype);
  if (n > 0 && want / static_cast<uint64_t>(n) != ElementSize(dtype)) {
    return Status::BadRequest("tensor '" + name + "' is too large");
  }
  if (data.size() != want) {
    return Status::BadRequest("tensor '" + name + "' has " + std::to_string(data.size()) +
                              " bytes; shape " + ShapeString(shape) + " of " +
                              std::string(DataTypeName(dtype)) + " needs " + std::to_string(want));
  }
  return Status::Ok();
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

void AppendBytesElement(std::string& data, std::string_view element) {
  const uint32_t len = static_cast<uint32_t>(element.size());
  data.append(reinterpret_cast<const char*>(&len), 4);
  data.append(element);
}

Tensor BytesTensor(std::string name, const std::vector<std::string>& texts, size_t from, size_t count) {
  Tensor t;
  t.name = std::move(name);
  t.dtype = DataType::kBytes;
  t.shape = {static_cast<int64_t>(count)};
  for (size_t i = from; i < from + count; ++i) AppendBytesElement(t.data, texts[i]);
  return t;
}

std::vector<std::string_view> BytesElements(std::string_view data) {
  std::vector<std::string_view> out;
  for (size_t off = 0; data.size() - off >= 4;) {
    uint32_t len = 0;
    std::memcpy(&len, data.data() + off, 4);
    if (data.size() - off - 4 < len) break;
    out.push_back(data.substr(off + 4, len));
    off += 4 + len;
  }
  return out;
}

}  // namespace aimass::serving
