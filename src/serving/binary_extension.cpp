#include "serving/binary_extension.hpp"

namespace aimass::serving::binary_extension {

Result<std::pair<std::string_view, std::string_view>> Split(std::string_view body, std::optional<size_t> json_header_length) {
  if (!json_header_length) return std::make_pair(body, std::string_view());
  if (*json_header_length > body.size()) {
    return Status::BadRequest("Inference-Header-Content-Length is " + std::to_string(*json_header_length) +
                              " but the body has only " + std::to_string(body.size()) + " bytes");
  }
  return std::make_pair(body.substr(0, *json_header_length), body.substr(*json_header_length));
}

Status TakeInput(Tensor& t, const std::string& label, uint64_t size, std::string_view* binary) {
  if (size > binary->size()) {
    return Status::BadRequest(label + ": binary_data_size " + std::to_string(size) + " exceeds the " +
                              std::to_string(binary->size()) +
                              " bytes of binary data left after the JSON (is Inference-Header-Content-Length set?)");
  }
  int64_t n = t.ElementCount();
  if (n < 0) return Status::BadRequest(label + ": shape " + ShapeString(t.shape) + " is too large");
  size_t es = ElementSize(t.dtype);
  // n * es == size, written without the product, which may overflow.
  if (es != 0 && (size % es != 0 || size / es != static_cast<uint64_t>(n))) {
    return Status::BadRequest(label + ": binary_data_size " + std::to_string(size) + " does not match shape " +
                              ShapeString(t.shape) + " of " + std::string(DataTypeName(t.dtype)) + " (" +
                              std::to_string(n) + " elements of " + std::to_string(es) + " bytes)");
  }
  t.data.assign(binary->data(), size);
  binary->remove_prefix(size);
  if (t.dtype == DataType::kBool) {
    // A bool byte other than 0 or 1 is undefined behaviour for a runtime that reads it as bool.
    for (char c : t.data) {
      if (c != 0 && c != 1) return Status::BadRequest(label + ": BOOL binary data must hold only bytes 0 and 1");
    }
  }
  return Status::Ok();
}

void AppendOutputs(std::string& out, const std::vector<std::pair<const Tensor*, bool>>& picked) {
  for (const auto& [t, binary] : picked) {
    if (binary) out += t->data;
  }
}

}  // namespace aimass::serving::binary_extension
