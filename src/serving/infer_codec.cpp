#include "serving/infer_codec.hpp"

#include "serving/binary_extension.hpp"
#include "serving/json_tensor.hpp"

namespace aimass::serving {

using namespace json_tensor;

namespace {

// ---- v2 request ----

Result<std::vector<int64_t>> ParseShape(dom::object in, const std::string& label) {
  std::optional<Json> member = Member(in, "shape");
  if (!member) return Status::BadRequest(label + ": 'shape' is missing");
  dom::array dims;
  if (member->get_array().get(dims) != simdjson::SUCCESS) {
    return Status::BadRequest(label + ": 'shape' must be an array of integers");
  }
  if (dims.size() > kMaxDims) {
    return Status::BadRequest(label + ": shape has " + std::to_string(dims.size()) +
                              " dimensions; at most " + std::to_string(kMaxDims) + " are allowed");
  }
  std::vector<int64_t> shape;
  shape.reserve(dims.size());
  for (Json d : dims) {
    // A dimension past INT64_MAX (simdjson's UINT64) is as wrong as a negative one.
    if (d.type() != JsonType::INT64 || d.get_int64().value_unsafe() < 0) {
      return Status::BadRequest(label + ": shape dimension " + std::to_string(shape.size()) +
                                " must be an integer >= 0");
    }
    shape.push_back(d.get_int64().value_unsafe());
  }
  return shape;
}

// Reads the object member `key` of `obj` as a bool; absent is false.
Status OptionalBool(dom::object obj, const char* key, const std::string& where, bool* out) {
  std::optional<Json> v = Member(obj, key);
  if (!v) return Status::Ok();
  if (!v->is_bool()) return Status::BadRequest(where + ": parameter '" + key + "' must be true or false");
  *out = v->get_bool().value_unsafe();
  return Status::Ok();
}

// The optional "parameters" member: an object, or absent or null (nullopt).
Result<std::optional<dom::object>> Parameters(dom::object obj, const std::string& where) {
  std::optional<Json> v = Member(obj, "parameters");
  if (!v || v->is_null()) return std::optional<dom::object>();
  dom::object params;
  if (v->get_object().get(params) != simdjson::SUCCESS) {
    return Status::BadRequest(where + ": 'parameters' must be an object");
  }
  return std::optional<dom::object>(params);
}

Result<Tensor> ParseInput(Json element, size_t index, std::string_view* binary, size_t text_size) {
  dom::object in;
  if (element.get_object().get(in) != simdjson::SUCCESS) {
    return Status::BadRequest("inputs[" + std::to_string(index) + "] must be an object");
  }
  std::optional<Json> name = Member(in, "name");
  if (!name || !name->is_string() || name->get_string().value_unsafe().empty()) {
    return Status::BadRequest("inputs[" + std::to_string(index) + "] needs a non-empty string 'name'");
  }
  Tensor t;
  t.name = name->get_string().value_unsafe();
  const std::string label = InputLabel(t.name);

  std::optional<Json> dt = Member(in, "datatype");
  if (!dt || !dt->is_string()) return Status::BadRequest(label + ": 'datatype' is missing");
  std::string_view dt_name = dt->get_string().value_unsafe();
  std::optional<DataType> dtype = ParseDataType(dt_name);
  if (!dtype) {
    return Status::BadRequest(label + ": unknown datatype " + Quoted(dt_name) +
                              " (expected BOOL, UINT8-64, INT8-64, FP16, FP32, FP64 or BYTES)");
  }
  t.dtype = *dtype;
  AIMASS_ASSIGN_OR_RETURN(t.shape, ParseShape(in, label));

  AIMASS_ASSIGN_OR_RETURN(std::optional<dom::object> params, Parameters(in, label));
  std::optional<Json> data = Member(in, "data");
  std::optional<Json> size = params ? Member(*params, "binary_data_size") : std::nullopt;
  if (size) {
    std::optional<uint64_t> bytes = UnsignedInteger(*size);
    if (!bytes) return Status::BadRequest(label + ": binary_data_size must be an integer >= 0");
    if (data) return Status::BadRequest(label + ": has both 'data' and binary_data_size");
    AIMASS_RETURN_IF_ERROR(binary_extension::TakeInput(t, label, *bytes, binary));
  } else {
    if (!data) return Status::BadRequest(label + ": needs 'data' or parameters.binary_data_size");
    AIMASS_RETURN_IF_ERROR(WriteData(*data, t, label, text_size));
  }
  AIMASS_RETURN_IF_ERROR(t.CheckSize());
  return t;
}

Status ParseOutputs(dom::object doc, InferRequest* req) {
  std::optional<Json> member = Member(doc, "outputs");
  if (!member || member->is_null()) return Status::Ok();
  dom::array outputs;
  if (member->get_array().get(outputs) != simdjson::SUCCESS) return Status::BadRequest("'outputs' must be an array");
  if (outputs.size() > kMaxOutputs) {
    return Status::BadRequest("request asks for " + std::to_string(outputs.size()) + " outputs; at most " +
                              std::to_string(kMaxOutputs) + " are allowed");
  }
  for (Json element : outputs) {
    dom::object out;
    if (element.get_object().get(out) != simdjson::SUCCESS) {
      return Status::BadRequest("outputs[" + std::to_string(req->outputs.size()) + "] must be an object");
    }
    std::optional<Json> name = Member(out, "name");
    if (!name || !name->is_string() || name->get_string().value_unsafe().empty()) {
      return Status::BadRequest("outputs[" + std::to_string(req->outputs.size()) + "] needs a non-empty string 'name'");
    }
    RequestedOutput r;
    r.name = name->get_string().value_unsafe();
    const std::string label = "output " + Quoted(r.name);
    for (const auto& prev : req->outputs) {
      if (prev.name == r.name) return Status::BadRequest(label + " is requested twice");
    }
    AIMASS_ASSIGN_OR_RETURN(std::optional<dom::object> params, Parameters(out, label));
    if (params) AIMASS_RETURN_IF_ERROR(OptionalBool(*params, "binary_data", label, &r.binary));
    req->outputs.push_back(std::move(r));
  }
  return Status::Ok();
}

}  // namespace

Result<InferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_header_length) {
  AIMASS_ASSIGN_OR_RETURN(auto parts, binary_extension::Split(body, json_header_length));
  auto [text, binary] = parts;
  ParsedJson parsed;
  AIMASS_RETURN_IF_ERROR(parsed.Parse(text, "infer request"));
  dom::object doc;
  if (parsed.root().get_object().get(doc) != simdjson::SUCCESS) {
    return Status::BadRequest("infer request must be a JSON object");
  }

  InferRequest req;
  if (std::optional<Json> id = Member(doc, "id")) {
    if (!id->is_string()) return Status::BadRequest("request 'id' must be a string");
    req.id = id->get_string().value_unsafe();
  }
  AIMASS_ASSIGN_OR_RETURN(std::optional<dom::object> params, Parameters(doc, "request"));
  if (params) AIMASS_RETURN_IF_ERROR(OptionalBool(*params, "binary_data_output", "request", &req.binary_default));
  AIMASS_RETURN_IF_ERROR(ParseOutputs(doc, &req));

  std::optional<Json> member = Member(doc, "inputs");
  dom::array inputs;
  if (!member || member->get_array().get(inputs) != simdjson::SUCCESS) {
    return Status::BadRequest("infer request needs an 'inputs' array");
  }
  if (inputs.size() > kMaxInputs) {
    return Status::BadRequest("request has " + std::to_string(inputs.size()) + " inputs; at most " +
                              std::to_string(kMaxInputs) + " are allowed");
  }
  req.inputs.reserve(inputs.size());
  for (Json in : inputs) {
    AIMASS_ASSIGN_OR_RETURN(Tensor t, ParseInput(in, req.inputs.size(), &binary, text.size()));
    for (const Tensor& prev : req.inputs) {
      if (prev.name == t.name) return Status::BadRequest(InputLabel(t.name) + " is given twice");
    }
    req.inputs.push_back(std::move(t));
  }
  if (!binary.empty()) {
    return Status::BadRequest(std::to_string(binary.size()) +
                              " bytes after the JSON header belong to no input (the inputs' binary_data_size "
                              "must add up to exactly the binary data)");
  }
  return req;
}

Result<EncodedResponse> EncodeInferResponse(const InferResponse& response,
                                            const std::vector<RequestedOutput>& requested,
                                            bool binary_default) {
  // (tensor, binary) in answer order.
  std::vector<std::pair<const Tensor*, bool>> picked;
  if (requested.empty()) {
    for (const Tensor& t : response.outputs) picked.emplace_back(&t, binary_default);
  } else {
    for (const RequestedOutput& r : requested) {
      const Tensor* found = nullptr;
      for (const Tensor& t : response.outputs) {
        if (t.name == r.name) {
          found = &t;
          break;
        }
      }
      if (found == nullptr) return Status::BadRequest("output " + Quoted(r.name) + " is not an output of the model");
      picked.emplace_back(found, r.binary || binary_default);
    }
  }

  size_t json_guess = 256, binary_size = 0;
  bool any_binary = false;
  for (const auto& [t, binary] : picked) {
    AIMASS_RETURN_IF_ERROR(CheckOutput(*t));
    if (binary) {
      binary_size += t->data.size();
      any_binary = true;
    } else {
      json_guess += 64 + t->data.size() * 4;  // a float's text is about 4x its 4 bytes
    }
  }

  std::string out;
  out.reserve(json_guess + binary_size);
  out += "{\"model_name\":";
  AppendJsonString(out, response.model_name);
  if (!response.model_version.empty()) {
    out += ",\"model_version\":";
    AppendJsonString(out, response.model_version);
  }
  if (!response.id.empty()) {
    out += ",\"id\":";
    AppendJsonString(out, response.id);
  }
  out += ",\"outputs\":[";
  for (size_t i = 0; i < picked.size(); ++i) {
    const auto& [t, binary] = picked[i];
    if (i) out += ',';
    out += "{\"name\":";
    AppendJsonString(out, t->name);
    out += ",\"datatype\":\"";
    out += DataTypeName(t->dtype);
    out += "\",\"shape\":";
    AppendShape(out, t->shape);
    if (binary) {
      out += ",\"parameters\":{\"binary_data_size\":";
      AppendInteger(out, t->data.size());
      out += "}}";
      continue;
    }
    out += ",\"data\":[";
    AppendFlat(out, *t);
    out += "]}";
  }
  out += "]}";

  EncodedResponse encoded;
  if (any_binary) {
    encoded.json_header_length = out.size();
    binary_extension::AppendOutputs(out, picked);
  }
  encoded.body = std::move(out);
  return encoded;
}

}  // namespace aimass::serving
