// libFuzzer target for Open Inference Protocol bodies. The first 4 bytes (little-endian) are
// the Inference-Header-Content-Length, 0xFFFFFFFF for none, or 0xFFFFFFFE for a v1 :predict
// body (whose first byte then picks the model's input datatype, and one or two inputs); the rest
// is the body. Every parsed tensor must hold what its shape says, and answering the inputs as a
// response must work: as binary they must parse back to the same bytes, as JSON to the same
// values (BYTES aside: bytes that are not UTF-8 are escaped).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "serving/infer_codec.hpp"

namespace {

using namespace aimass::serving;

void Check(bool ok) {
  if (!ok) std::abort();
}

// An encoded response of the inputs, turned back into an infer request: the response starts
// `{"model_name":"m","outputs":` and its outputs are shaped like inputs.
void ExpectRoundTrip(const std::vector<Tensor>& inputs, bool binary) {
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs = inputs;
  auto enc = EncodeInferResponse(resp, {}, binary);
  Check(enc.ok());
  size_t json_size = enc->json_header_length.value_or(enc->body.size());
  Check(json_size <= enc->body.size());
  Check(nlohmann::json::accept(std::string_view(enc->body).substr(0, json_size)));
  constexpr std::string_view kPrefix = R"({"model_name":"m","outputs":)";
  Check(std::string_view(enc->body).starts_with(kPrefix));
  std::string body = R"({"inputs":)" + enc->body.substr(kPrefix.size());
  std::optional<size_t> header;
  if (enc->json_header_length) header = json_size - kPrefix.size() + 10;  // 10: {"inputs":
  auto back = ParseInferRequest(body, header);
  if (!back.ok()) {
    // Only JSON can lose something: NaN and infinity are written as null.
    bool any_float = false;
    for (const Tensor& t : inputs) {
      any_float = any_float || t.dtype == DataType::kFp16 || t.dtype == DataType::kFp32 || t.dtype == DataType::kFp64;
    }
    Check(!binary && any_float);
    return;
  }
  Check(back->inputs.size() == inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& a = inputs[i];
    const Tensor& b = back->inputs[i];
    Check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape);
    if (binary || a.dtype != DataType::kBytes) Check(a.data == b.data);
  }
}

void CheckPredictions(const std::vector<Tensor>& tensors) {
  auto enc = EncodePredictResponse(tensors);
  if (enc.ok()) Check(nlohmann::json::accept(*enc));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t prefix;
  std::memcpy(&prefix, data, 4);
  std::string_view body(reinterpret_cast<const char*>(data) + 4, size - 4);

  if (prefix == 0xFFFFFFFEu) {
    if (body.empty()) return 0;
    auto dtype = static_cast<DataType>(static_cast<uint8_t>(body[0]) % 13);
    std::vector<std::pair<std::string, DataType>> inputs = {{"x", dtype}};
    if (static_cast<uint8_t>(body[0]) >= 128) inputs.emplace_back("y", dtype);
    auto tensors = ParsePredictRequest(body.substr(1), inputs);
    if (!tensors.ok()) return 0;
    Check(tensors->size() == inputs.size());
    for (const Tensor& t : *tensors) Check(t.CheckSize().ok());
    CheckPredictions(*tensors);
    return 0;
  }

  std::optional<size_t> header;
  if (prefix != 0xFFFFFFFFu) header = prefix;
  auto req = ParseInferRequest(body, header);
  if (!req.ok()) return 0;
  for (const Tensor& t : req->inputs) Check(t.CheckSize().ok());
  ExpectRoundTrip(req->inputs, /*binary=*/true);
  ExpectRoundTrip(req->inputs, /*binary=*/false);
  // As the client asked; its output names need not match, which is an error, not a crash.
  InferResponse resp;
  resp.model_name = "m";
  resp.id = req->id;
  resp.outputs = req->inputs;
  (void)EncodeInferResponse(resp, req->outputs, req->binary_default);
  CheckPredictions(req->inputs);
  return 0;
}
