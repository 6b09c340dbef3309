// The binary tensor data extension of the v2 REST protocol: an infer body whose first
// Inference-Header-Content-Length bytes are JSON and whose rest is the raw bytes of the inputs
// that say parameters.binary_data_size, in order; answers likewise for outputs asked binary.
// Internal to serving's codecs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "serving/tensor.hpp"

namespace aimass::serving::binary_extension {

// The JSON text and the binary data of a body, split at `json_header_length` (the whole body
// is JSON without it).
Result<std::pair<std::string_view, std::string_view>> Split(std::string_view body, std::optional<size_t> json_header_length);
// A binary input's bytes: the next `size` bytes of `binary`, which it consumes.
Status TakeInput(Tensor& t, const std::string& label, uint64_t size, std::string_view* binary);
// After the JSON of an answer: the bytes of each output written binary, in answer order.
void AppendOutputs(std::string& out, const std::vector<std::pair<const Tensor*, bool>>& picked);

}  // namespace aimass::serving::binary_extension
