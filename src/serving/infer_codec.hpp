// The Open Inference Protocol v2 REST body, both ways: an infer request (JSON, or JSON plus
// binary tensor data after it — the binary-tensor extension) into named Tensors, and the
// answer's tensors back into JSON (and binary where asked). Also the v1 `:predict` shape
// ({"instances": …} / {"predictions": …}). Faces the network: fuzzed (fuzz/infer_codec_fuzz.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "serving/tensor.hpp"

namespace aimass::serving {

struct RequestedOutput {
  std::string name;
  bool binary = false;  // parameters.binary_data
};

struct InferRequest {
  std::string id;                        // echoed in the response
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: every output, as JSON (or binary_default)
  bool binary_default = false;           // request parameters.binary_data_output
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<Tensor> outputs;
};

struct EncodedResponse {
  std::string body;
  // Set when some output went binary: the length of the JSON header at the start of `body`,
  // sent as Inference-Header-Content-Length; Content-Type is then application/octet-stream.
  std::optional<size_t> json_header_length;
};

// Parses an infer request body. `json_header_length` is the Inference-Header-Content-Length
// header when present: the first that many bytes are JSON and the rest is the binary data of
// the inputs that carry parameters.binary_data_size, in their order. Data given as JSON may be
// flat (row-major) or nested arrays whose nesting matches the shape. JSON numbers are checked
// against the datatype's range (an INT8 of 300 or a BOOL of 2 is an error), BYTES elements are
// JSON strings. Every error is bad_request (invalid_json for malformed JSON) and names the
// tensor and what was expected, never quoting the data. Limits: 64 inputs, 8 dimensions.
Result<InferRequest> ParseInferRequest(std::string_view body,
                                       std::optional<size_t> json_header_length);

// Encodes a response. Outputs listed in `requested` (all when empty) are written in that
// order; binary ones (per output, or binary_default) go after the JSON as raw bytes with
// parameters.binary_data_size. JSON data is flat, row-major; FP16 is written as numbers; BYTES
// as strings (bytes that are not UTF-8 are written with \u escapes of each byte).
Result<EncodedResponse> EncodeInferResponse(const InferResponse& response,
                                            const std::vector<RequestedOutput>& requested,
                                            bool binary_default);

// v1: {"instances": [row, row, …]} for a model with one input of the given datatype: the
// rows (numbers or nested arrays, all the same shape) become one tensor of shape
// [rows, …row shape]. {"inputs": …} (v1's columnar form) is accepted too: an object of named
// inputs, each an array of rows, or one array for the only input.
Result<std::vector<Tensor>> ParsePredictRequest(std::string_view body,
                                                const std::vector<std::pair<std::string, DataType>>& inputs);
// {"predictions": …}: for one output its rows as nested arrays; for several, one object per
// row keyed by output name.
Result<std::string> EncodePredictResponse(const std::vector<Tensor>& outputs);

}  // namespace aimass::serving
