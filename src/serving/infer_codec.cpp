#include "serving/infer_codec.hpp"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "common/text.hpp"

namespace aimass::serving {

namespace {

// Requests are read with simdjson's DOM (ARCHITECTURE.md: simdjson where parsing speed
// matters): an infer body is parsed once per request, and its data arrays can hold millions
// of numbers. nlohmann only judges, on a rare error path, whether a text simdjson refused is
// JSON at all (see ParsedJson).
namespace dom = simdjson::dom;
using Json = dom::element;
using JsonType = dom::element_type;

// Tensor bytes are little-endian (tensor.hpp) and are copied to and from the host's numbers
// with memcpy; a big-endian host would need byte swaps at every memcpy below.
static_assert(std::endian::native == std::endian::little);

constexpr size_t kMaxInputs = 64;
constexpr size_t kMaxOutputs = 64;  // also bounds the duplicate-name check, which is quadratic
constexpr size_t kMaxDims = 8;
constexpr size_t kMaxNameInMessage = 64;
// The most '[' a nested (v1) answer may hold. Only a shape with a zero dimension after huge
// ones comes near it: otherwise there are at most 8 arrays per element.
constexpr uint64_t kMaxNestedArrays = uint64_t{1} << 26;

// ---- messages ----

// A name as it may appear in an error message: capped, and printable ASCII only, so that a
// hostile name can neither flood the log nor break the JSON of the error body.
std::string Quoted(std::string_view name) {
  std::string s = "'";
  for (size_t i = 0; i < name.size() && i < kMaxNameInMessage; ++i) {
    char c = name[i];
    s += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (name.size() > kMaxNameInMessage) s += "...";
  return s + "'";
}

std::string InputLabel(std::string_view name) { return "input " + Quoted(name); }

// ---- JSON numbers into tensor elements ----

// Rounds a double to the nearest IEEE half, ties to even, in one step (going through float
// would round twice). nullopt when it rounds to infinity.
std::optional<uint16_t> DoubleToHalf(double d) {
  uint16_t sign = std::signbit(d) ? 0x8000 : 0;
  double a = std::fabs(d);
  // 65520 lies halfway between 65504 (the largest half, odd mantissa) and 65536, so it ties
  // to the even side: infinity. The negated test also turns NaN away.
  if (!(a < 65520.0)) return std::nullopt;
  if (a < 0x1p-14) {
    // Subnormal, in units of 2^-24 (exact scaling). 1024 units is the smallest normal, whose
    // bit pattern is exactly 1024, so rounding up into it needs no special case.
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(a * 0x1p24)));
  }
  int exp = 0;
  std::frexp(a, &exp);  // a = m * 2^exp with m in [0.5, 1)
  int e = exp - 1;      // a in [2^e, 2^(e+1)), e in [-14, 15]
  auto q = static_cast<uint32_t>(std::nearbyint(std::ldexp(a, 10 - e)));  // [1024, 2048]
  // q == 2048 (rounded up to the next power of two) carries into the exponent by itself.
  return static_cast<uint16_t>(sign | (((e + 15) << 10) + (q - 1024)));
}

double HalfToDouble(uint16_t h) {
  int exp = (h >> 10) & 0x1f;
  int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(mant, -24);
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else {
    v = std::ldexp(mant + 1024, exp - 25);
  }
  return (h & 0x8000) ? -v : v;
}

// The value of a JSON number as integer type T, when it is integral and in T's range. JSON
// does not tell 2 from 2.0, so floats without a fraction count as integers.
template <typename T>
bool ToInteger(Json v, T* out) {
  using L = std::numeric_limits<T>;
  switch (v.type()) {
    case JsonType::UINT64: {  // simdjson's type only for integers past INT64_MAX
      uint64_t u = v.get_uint64().value_unsafe();
      if (u > static_cast<uint64_t>(L::max())) return false;
      *out = static_cast<T>(u);
      return true;
    }
    case JsonType::INT64: {
      int64_t i = v.get_int64().value_unsafe();
      if constexpr (std::is_unsigned_v<T>) {
        if (i < 0 || static_cast<uint64_t>(i) > L::max()) return false;
      } else {
        if (i < L::min() || i > L::max()) return false;
      }
      *out = static_cast<T>(i);
      return true;
    }
    case JsonType::DOUBLE: {
      double d = v.get_double().value_unsafe();
      if (d != std::trunc(d)) return false;
      // max()+1 is a power of two and exact as a double (max() itself may not be).
      const double upper = static_cast<double>(L::max()) + 1.0;
      if (!(d >= static_cast<double>(L::min()) && d < upper)) return false;
      *out = static_cast<T>(d);
      return true;
    }
    default:
      return false;
  }
}

// The value of a JSON integer >= 0 (simdjson types those up to INT64_MAX as INT64), or nullopt.
std::optional<uint64_t> UnsignedInteger(Json v) {
  if (v.type() == JsonType::UINT64) return v.get_uint64().value_unsafe();
  if (v.type() == JsonType::INT64 && v.get_int64().value_unsafe() >= 0) {
    return static_cast<uint64_t>(v.get_int64().value_unsafe());
  }
  return std::nullopt;
}

// The member `key` of a JSON object, or nullopt. With duplicate keys the first counts.
std::optional<Json> Member(dom::object obj, std::string_view key) {
  Json v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

template <typename T>
bool PutInteger(Json v, char* dst) {
  T x;
  if (!ToInteger(v, &x)) return false;
  std::memcpy(dst, &x, sizeof x);
  return true;
}

template <typename T>
std::string IntegerRange() {
  using L = std::numeric_limits<T>;
  return "an integer in [" + std::to_string(static_cast<int64_t>(L::min())) + ", " +
         std::to_string(L::max()) + "]";
}

// What an element of a datatype must be, for error messages.
std::string Expected(DataType t) {
  switch (t) {
    case DataType::kBool: return "true, false, 0 or 1";
    case DataType::kUint8: return IntegerRange<uint8_t>();
    case DataType::kUint16: return IntegerRange<uint16_t>();
    case DataType::kUint32: return IntegerRange<uint32_t>();
    case DataType::kUint64: return IntegerRange<uint64_t>();
    case DataType::kInt8: return IntegerRange<int8_t>();
    case DataType::kInt16: return IntegerRange<int16_t>();
    case DataType::kInt32: return IntegerRange<int32_t>();
    case DataType::kInt64: return IntegerRange<int64_t>();
    case DataType::kFp16: return "a number within the FP16 range";
    case DataType::kFp32: return "a number within the FP32 range";
    case DataType::kFp64: return "a number";
    case DataType::kBytes: return "a string";
  }
  return "a value";
}

// Converts JSON elements into a tensor's bytes one at a time, checking each against the
// datatype. Fixed-size types write into data sized once up front, so a large tensor costs one
// allocation rather than one per element. `count` must already be known to be plausible
// (no more than the JSON text could hold), since that much is allocated.
class ElementWriter {
 public:
  ElementWriter(Tensor& t, const std::string& label, size_t count)
      : t_(t), label_(label), size_(ElementSize(t.dtype)), count_(count) {
    if (size_ == 0) {
      t_.data.reserve(count * 8);  // a guess: the 4-byte length and a few bytes
    } else {
      t_.data.resize(count * size_);
    }
  }

  Status Put(Json v) {
    if (index_ == count_) return Status::BadRequest(label_ + ": more elements than its shape says");
    char* dst = t_.data.data() + index_ * size_;
    bool ok = false;
    switch (t_.dtype) {
      case DataType::kBool: {
        uint8_t b = 0;
        if (v.is_bool()) {
          b = v.get_bool().value_unsafe() ? 1 : 0;
          ok = true;
        } else {
          ok = ToInteger(v, &b) && b <= 1;
        }
        *dst = static_cast<char>(b);
        break;
      }
      case DataType::kUint8: ok = PutInteger<uint8_t>(v, dst); break;
      case DataType::kUint16: ok = PutInteger<uint16_t>(v, dst); break;
      case DataType::kUint32: ok = PutInteger<uint32_t>(v, dst); break;
      case DataType::kUint64: ok = PutInteger<uint64_t>(v, dst); break;
      case DataType::kInt8: ok = PutInteger<int8_t>(v, dst); break;
      case DataType::kInt16: ok = PutInteger<int16_t>(v, dst); break;
      case DataType::kInt32: ok = PutInteger<int32_t>(v, dst); break;
      case DataType::kInt64: ok = PutInteger<int64_t>(v, dst); break;
      case DataType::kFp16: {
        if (!v.is_number()) break;
        std::optional<uint16_t> h = DoubleToHalf(v.get_double().value_unsafe());
        if (!h) break;
        std::memcpy(dst, &*h, 2);
        ok = true;
        break;
      }
      case DataType::kFp32: {
        if (!v.is_number()) break;
        double d = v.get_double().value_unsafe();
        // Past FLT_MAX plus half an ulp the conversion would give infinity: out of range.
        if (!(std::fabs(d) < 0x1.ffffffp+127)) break;
        float f = static_cast<float>(d);
        std::memcpy(dst, &f, 4);
        ok = true;
        break;
      }
      case DataType::kFp64: {
        if (!v.is_number()) break;
        double d = v.get_double().value_unsafe();
        std::memcpy(dst, &d, 8);
        ok = true;
        break;
      }
      case DataType::kBytes: {
        if (!v.is_string()) break;
        std::string_view s = v.get_string().value_unsafe();
        if (s.size() > UINT32_MAX) break;
        auto len = static_cast<uint32_t>(s.size());
        char prefix[4];
        std::memcpy(prefix, &len, 4);
        t_.data.append(prefix, 4);
        t_.data.append(s);
        ok = true;
        break;
      }
    }
    if (!ok) return ElementError();
    ++index_;
    return Status::Ok();
  }

  size_t written() const { return index_; }

 private:
  // Names the element by its row-major index and says what it must be; never its value.
  Status ElementError() const {
    return Status::BadRequest(label_ + ": element " + std::to_string(index_) + " must be " +
                              Expected(t_.dtype) + " for " + std::string(DataTypeName(t_.dtype)));
  }

  Tensor& t_;
  const std::string& label_;
  size_t size_;
  size_t count_;
  size_t index_ = 0;
};

// Writes data nested exactly as the shape says: at depth d an array of shape[d] items, and
// scalars at the bottom. Recursion is bounded by the shape's rank (at most kMaxDims).
Status WriteNested(Json node, const std::vector<int64_t>& shape, size_t depth, ElementWriter& w,
                   const std::string& label) {
  if (depth == shape.size()) {
    if (node.is_array()) {
      return Status::BadRequest(label + ": data is nested deeper than its shape " + ShapeString(shape));
    }
    return w.Put(node);
  }
  dom::array items;
  if (node.get_array().get(items) != simdjson::SUCCESS || items.size() != static_cast<uint64_t>(shape[depth])) {
    return Status::BadRequest(label + ": nested data does not match shape " + ShapeString(shape) +
                              " at dimension " + std::to_string(depth) + " (expected an array of " +
                              std::to_string(shape[depth]) + ")");
  }
  for (Json item : items) AIMASS_RETURN_IF_ERROR(WriteNested(item, shape, depth + 1, w, label));
  return Status::Ok();
}

// Fills t.data from `data`, flat (row-major) or nested to match t.shape. `text_size` is the
// size of the JSON the data came from: every element takes at least one character of it, so a
// shape asking for more cannot be satisfied and is refused before anything is allocated.
Status WriteData(Json data, Tensor& t, const std::string& label, size_t text_size) {
  dom::array items;
  if (data.get_array().get(items) != simdjson::SUCCESS) {
    return Status::BadRequest(label + ": 'data' must be an array");
  }
  int64_t n = t.ElementCount();
  if (n < 0) return Status::BadRequest(label + ": shape " + ShapeString(t.shape) + " is too large");
  const size_t count = items.size();
  bool nested = count != 0 && (*items.begin()).is_array();
  if (!nested && count != static_cast<uint64_t>(n)) {
    return Status::BadRequest(label + ": shape " + ShapeString(t.shape) + " needs " + std::to_string(n) +
                              " elements, got " + std::to_string(count));
  }
  if (static_cast<uint64_t>(n) > text_size) {
    return Status::BadRequest(label + ": shape " + ShapeString(t.shape) + " needs " + std::to_string(n) +
                              " elements, more than the data holds");
  }
  ElementWriter w(t, label, static_cast<size_t>(n));
  if (nested) {
    if (t.shape.empty()) return Status::BadRequest(label + ": data is nested deeper than its shape []");
    AIMASS_RETURN_IF_ERROR(WriteNested(data, t.shape, 0, w, label));
  } else {
    for (Json v : items) {
      if (v.is_array()) return Status::BadRequest(label + ": data mixes nested arrays and values");
      AIMASS_RETURN_IF_ERROR(w.Put(v));
    }
  }
  if (w.written() != static_cast<size_t>(n)) {
    return Status::BadRequest(label + ": shape " + ShapeString(t.shape) + " needs " + std::to_string(n) +
                              " elements, got " + std::to_string(w.written()));
  }
  return Status::Ok();
}

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

// A binary input's bytes: the next binary_data_size bytes after the JSON.
Status TakeBinary(Tensor& t, const std::string& label, uint64_t size, std::string_view* binary) {
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
    AIMASS_RETURN_IF_ERROR(TakeBinary(t, label, *bytes, binary));
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

// ---- parsing ----

// A parsed JSON text. simdjson reads up to SIMDJSON_PADDING bytes past the end of its input, so
// the text is copied into a buffer that has them (the copy costs little next to the parse).
// Texts up to kSharedMax bytes use this thread's parser and buffer, whose memory is reused by
// the next request on the thread: no allocation per parse. Larger ones get their own, freed with
// this object, so a thread does not keep a huge body's parser for the rest of its life. The
// root stays valid while this object lives and no other parse runs on the thread.
class ParsedJson {
 public:
  // `what` names the text in errors ("infer request").
  Status Parse(std::string_view text, const char* what) {
    constexpr size_t kSharedMax = size_t{1} << 20;
    thread_local dom::parser shared_parser;
    thread_local std::string shared_buffer;
    dom::parser* parser = &shared_parser;
    std::string* buffer = &shared_buffer;
    if (text.size() > kSharedMax) {
      own_parser_ = std::make_unique<dom::parser>();
      parser = own_parser_.get();
      buffer = &own_buffer_;
    }
    buffer->resize(text.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(buffer->data(), text.data(), text.size());
    simdjson::error_code err = parser->parse(buffer->data(), text.size(), /*realloc_if_needed=*/false).get(root_);
    if (err == simdjson::SUCCESS) return Status::Ok();
    std::string name = what;
    if (err == simdjson::DEPTH_ERROR) return Status::BadRequest(name + " is nested too deeply");
    // simdjson refuses integers beyond 64 bits, which JSON allows (nlohmann reads them as
    // doubles); such a text is valid JSON asking for a value no tensor element can hold.
    if ((err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE) && nlohmann::json::accept(text)) {
      return Status::BadRequest(name + " holds an integer too large for 64 bits");
    }
    return Status::InvalidJson(name + " is not valid JSON");
  }

  Json root() const { return root_; }

 private:
  std::unique_ptr<dom::parser> own_parser_;
  std::string own_buffer_;
  Json root_;
};

// ---- JSON writing ----

void AppendEscapedByte(std::string& out, unsigned char c) {
  static const char* kHex = "0123456789abcdef";
  out += "\\u00";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// Appends s as a JSON string. Valid UTF-8 passes through; each byte outside a valid sequence
// becomes \u00XX, so any BYTES element can be answered (the client sees that byte's Latin-1
// character).
void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            AppendEscapedByte(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    size_t len = Utf8SequenceLength(s.substr(i));
    if (len == 0) {
      AppendEscapedByte(out, c);
      ++i;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
  out += '"';
}

template <typename T>
void AppendInteger(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Shortest text that reads back to the same value (so FP32 is printed as a float, not as the
// longer double it widens to). Integral values keep a ".0" to stay floats for the client.
// JSON has no NaN or infinity: those are written as null.
template <typename T>
void AppendFloating(std::string& out, T v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

// Reads a valid tensor's elements in order and writes each as JSON.
class ElementReader {
 public:
  explicit ElementReader(const Tensor& t) : t_(t) {}

  void AppendNext(std::string& out) {
    const char* p = t_.data.data() + off_;
    switch (t_.dtype) {
      case DataType::kBool: out += *p ? "true" : "false"; break;
      case DataType::kUint8: AppendInteger(out, Load<uint8_t>(p)); break;
      case DataType::kUint16: AppendInteger(out, Load<uint16_t>(p)); break;
      case DataType::kUint32: AppendInteger(out, Load<uint32_t>(p)); break;
      case DataType::kUint64: AppendInteger(out, Load<uint64_t>(p)); break;
      case DataType::kInt8: AppendInteger(out, Load<int8_t>(p)); break;
      case DataType::kInt16: AppendInteger(out, Load<int16_t>(p)); break;
      case DataType::kInt32: AppendInteger(out, Load<int32_t>(p)); break;
      case DataType::kInt64: AppendInteger(out, Load<int64_t>(p)); break;
      case DataType::kFp16: AppendFloating(out, HalfToDouble(Load<uint16_t>(p))); break;
      case DataType::kFp32: AppendFloating(out, Load<float>(p)); break;
      case DataType::kFp64: AppendFloating(out, Load<double>(p)); break;
      case DataType::kBytes: {
        uint32_t len = Load<uint32_t>(p);
        AppendJsonString(out, std::string_view(p + 4, len));
        off_ += 4 + static_cast<size_t>(len);
        return;
      }
    }
    off_ += ElementSize(t_.dtype);
  }

 private:
  template <typename T>
  static T Load(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }

  const Tensor& t_;
  size_t off_ = 0;
};

void AppendShape(std::string& out, const std::vector<int64_t>& shape) {
  out += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ',';
    AppendInteger(out, shape[i]);
  }
  out += ']';
}

// Writes dimensions [depth, rank) of the shape as nested arrays, elements from `r`.
void AppendNested(std::string& out, const std::vector<int64_t>& shape, size_t depth, ElementReader& r) {
  if (depth == shape.size()) {
    r.AppendNext(out);
    return;
  }
  out += '[';
  for (int64_t i = 0; i < shape[depth]; ++i) {
    if (i) out += ',';
    AppendNested(out, shape, depth + 1, r);
  }
  out += ']';
}

// How many arrays AppendNested writes for dimensions [depth, rank), saturating.
uint64_t NestedArrayCount(const std::vector<int64_t>& shape, size_t depth) {
  uint64_t total = 0, level = 1;
  for (size_t d = depth; d < shape.size(); ++d) {
    total += level;
    if (shape[d] == 0 || total > kMaxNestedArrays) break;
    if (level > kMaxNestedArrays / static_cast<uint64_t>(shape[d])) return kMaxNestedArrays + 1;
    level *= static_cast<uint64_t>(shape[d]);
  }
  return total;
}

// Outputs come from a runtime, not the client: one that does not hold what its shape says is
// our fault, not the request's.
Status CheckOutput(const Tensor& t) {
  Status st = t.CheckSize();
  if (!st.ok()) return Status::Internal("model output is inconsistent: " + st.message());
  return Status::Ok();
}

// ---- v1 ----

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
  ElementWriter w(t, label, static_cast<size_t>(n));
  AIMASS_RETURN_IF_ERROR(WriteNested(rows, t.shape, 0, w, label));
  AIMASS_RETURN_IF_ERROR(t.CheckSize());
  return t;
}

}  // namespace

Result<InferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_header_length) {
  std::string_view text = body, binary;
  if (json_header_length) {
    if (*json_header_length > body.size()) {
      return Status::BadRequest("Inference-Header-Content-Length is " + std::to_string(*json_header_length) +
                                " but the body has only " + std::to_string(body.size()) + " bytes");
    }
    text = body.substr(0, *json_header_length);
    binary = body.substr(*json_header_length);
  }
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
    ElementReader r(*t);
    int64_t n = t->ElementCount();
    for (int64_t k = 0; k < n; ++k) {
      if (k) out += ',';
      r.AppendNext(out);
    }
    out += "]}";
  }
  out += "]}";

  EncodedResponse encoded;
  if (any_binary) {
    encoded.json_header_length = out.size();
    for (const auto& [t, binary] : picked) {
      if (binary) out += t->data;
    }
  }
  encoded.body = std::move(out);
  return encoded;
}

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
