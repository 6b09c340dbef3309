// v1 (TensorFlow Serving's REST shape): {"instances": …} or {"inputs": …} in, {"predictions":
// …} out. Declared in infer_codec.hpp with the v2 codec.
#include "serving/infer_codec.hpp"
#include "serving/json_tensor.hpp"

namespace aimass::serving {

using namespace json_tensor;

namespace {

// One tensor from v1 rows: the shape is read off the nesting along the first elements, then
// every row must match it exactly.
Result<Tensor> TensorFromRows(Json rows, const std::pair<std::string, DataType>& input, const char* field,
                              size_t text_size) {
  const std::string label = InputLabel(input.first);
  dom::array level;
  if (rows.get_array().get(level) != simdjson::SUCCESS || level.size() == 0) {
    return Status::BadRequest(label + ": '" + field + "' must be a non-empty array of rows");
  }
  Tensor t;
  t.name = input.first;
  t.dtype = input.second;
  for (;;) {
    if (t.shape.size() == kMaxDims) {
      return Status::BadRequest(label + ": rows are nested deeper than " + std::to_string(kMaxDims) +
                                " dimensions");
    }
    t.shape.push_back(static_cast<int64_t>(level.size()));
    if (level.size() == 0 || (*level.begin()).get_array().get(level) != simdjson::SUCCESS) break;
  }
  int64_t n = t.ElementCount();
  if (n < 0 || static_cast<uint64_t>(n) > text_size) {
    return Status::BadRequest(label + ": rows must all have the shape of the first, " +
                              ShapeString(std::vector<int64_t>(t.shape.begin() + 1, t.shape.end())));
  }
  AIMASS_RETURN_IF_ERROR(WriteRows(rows, t, label, static_cast<size_t>(n)));
  AIMASS_RETURN_IF_ERROR(t.CheckSize());
  return t;
}


}  // namespace

Result<std::vector<Tensor>> ParsePredictRequest(std::string_view body,
                                                const std::vector<std::pair<std::string, DataType>>& inputs) {
  ParsedJson parsed;
  AIMASS_RETURN_IF_ERROR(parsed.Parse(body, "predict request"));
  dom::object doc;
  if (parsed.root().get_object().get(doc) != simdjson::SUCCESS) {
    return Status::BadRequest("predict request must be a JSON object");
  }
  std::optional<Json> instances = Member(doc, "instances");
  std::optional<Json> columns = Member(doc, "inputs");
  if (instances && columns) {
    return Status::BadRequest("predict request gives both 'instances' and 'inputs'; give one");
  }
  std::vector<Tensor> tensors;
  if (instances || (columns && !columns->is_object())) {
    const char* field = instances ? "instances" : "inputs";
    if (inputs.size() != 1) {
      return Status::BadRequest(std::string("'") + field + "' as an array needs a model with one input; this one has " +
                                std::to_string(inputs.size()) + " (name them in an 'inputs' object)");
    }
    Json rows = instances ? *instances : *columns;
    AIMASS_ASSIGN_OR_RETURN(Tensor t, TensorFromRows(rows, inputs[0], field, body.size()));
    tensors.push_back(std::move(t));
    return tensors;
  }
  if (!columns) return Status::BadRequest("predict request needs 'instances' or 'inputs'");
  dom::object named = columns->get_object().value_unsafe();
  for (dom::key_value_pair field : named) {
    bool known = false;
    for (const auto& in : inputs) known = known || in.first == field.key;
    if (!known) {
      return Status::BadRequest("'inputs' names " + Quoted(field.key) + ", which is not an input of the model");
    }
  }
  for (const auto& in : inputs) {
    std::optional<Json> rows = Member(named, in.first);
    if (!rows) return Status::BadRequest(InputLabel(in.first) + " is missing from 'inputs'");
    AIMASS_ASSIGN_OR_RETURN(Tensor t, TensorFromRows(*rows, in, "inputs", body.size()));
    tensors.push_back(std::move(t));
  }
  return tensors;
}

Result<std::string> EncodePredictResponse(const std::vector<Tensor>& outputs) {
  for (const Tensor& t : outputs) {
    AIMASS_RETURN_IF_ERROR(CheckOutput(t));
    if (NestedArrayCount(t.shape, 0) > kMaxNestedArrays) {
      return Status::Internal("output " + Quoted(t.name) + " of shape " + ShapeString(t.shape) +
                              " is too large to write as nested arrays");
    }
  }
  size_t guess = 32;
  for (const Tensor& t : outputs) guess += t.data.size() * 4 + t.name.size() * 8;
  std::string out;
  out.reserve(guess);
  out += "{\"predictions\":";
  if (outputs.size() == 1) {
    const Tensor& t = outputs[0];
    ElementReader r(t);
    if (t.shape.empty()) {  // a scalar is one prediction
      out += '[';
      r.AppendNext(out);
      out += ']';
    } else {
      AppendNested(out, t.shape, 0, r);
    }
    out += '}';
    return out;
  }
  // Several outputs: one object per row, so they must agree on the number of rows.
  int64_t rows = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = outputs[i];
    if (t.shape.empty() || t.shape[0] != outputs[0].shape[0]) {
      return Status::BadRequest("v1 predictions need every output to have the same first dimension; output " +
                                Quoted(t.name) + " has shape " + ShapeString(t.shape) + " and output " +
                                Quoted(outputs[0].name) + " " + ShapeString(outputs[0].shape) +
                                " (use the v2 infer endpoint)");
    }
    rows = t.shape[0];
  }
  std::vector<ElementReader> readers;
  readers.reserve(outputs.size());
  for (const Tensor& t : outputs) readers.emplace_back(t);
  out += '[';
  for (int64_t row = 0; row < rows; ++row) {
    if (row) out += ',';
    out += '{';
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (i) out += ',';
      AppendJsonString(out, outputs[i].name);
      out += ':';
      AppendNested(out, outputs[i].shape, 1, readers[i]);
    }
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace aimass::serving
