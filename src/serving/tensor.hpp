// Tensors as the serving module moves them: a name, an Open Inference Protocol datatype, a
// shape and the raw bytes (row-major, little-endian). BYTES tensors hold each element as a
// 4-byte little-endian length followed by its bytes, the layout of the protocol's binary
// extension, so a tensor's bytes can go to and from the wire without conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::serving {

enum class DataType {
  kBool, kUint8, kUint16, kUint32, kUint64, kInt8, kInt16, kInt32, kInt64,
  kFp16, kFp32, kFp64, kBytes
};

// "BOOL", "UINT8", …, "FP32", "BYTES".
std::string_view DataTypeName(DataType t);
std::optional<DataType> ParseDataType(std::string_view name);
// Bytes per element; 0 for BYTES (variable length).
size_t ElementSize(DataType t);

struct Tensor {
  std::string name;
  DataType dtype = DataType::kFp32;
  std::vector<int64_t> shape;
  std::string data;

  // The product of the shape (1 for a scalar shape []); -1 if a dimension is negative or the
  // product overflows.
  int64_t ElementCount() const;
  // For fixed-size types: ElementCount() * ElementSize(); for BYTES the data's size.
  // ok when data holds exactly what the shape says, else bad_request naming the tensor.
  Status CheckSize() const;
};

std::string ShapeString(const std::vector<int64_t>& shape);  // "[2,3]"

// A BYTES tensor's data is its elements one after another, each a 4-byte little-endian length
// and its bytes (Open Inference Protocol's binary layout).
void AppendBytesElement(std::string& data, std::string_view element);
// A BYTES tensor [texts] of `texts`.
Tensor BytesTensor(std::string name, const std::vector<std::string>& texts, size_t from, size_t count);
// The elements of a BYTES tensor's data, up to the first one cut short.
std::vector<std::string_view> BytesElements(std::string_view data);

}  // namespace aimass::serving
