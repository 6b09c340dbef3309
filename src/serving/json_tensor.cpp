#include "serving/json_tensor.hpp"

#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "common/text.hpp"

namespace aimass::serving::json_tensor {

// Tensor bytes are little-endian (tensor.hpp) and are copied to and from the host's numbers
// with memcpy; a big-endian host would need byte swaps at every memcpy below.
static_assert(std::endian::native == std::endian::little);

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

namespace {

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


}  // namespace

std::optional<uint64_t> UnsignedInteger(Json v) {
  if (v.type() == JsonType::UINT64) return v.get_uint64().value_unsafe();
  if (v.type() == JsonType::INT64 && v.get_int64().value_unsafe() >= 0) {
    return static_cast<uint64_t>(v.get_int64().value_unsafe());
  }
  return std::nullopt;
}

std::optional<Json> Member(dom::object obj, std::string_view key) {
  Json v;
  if (obj.at_key(key).get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}


namespace {

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

}  // namespace

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

Status WriteRows(Json rows, Tensor& t, const std::string& label, size_t count) {
  ElementWriter w(t, label, count);
  return WriteNested(rows, t.shape, 0, w, label);
}

// ---- JSON writing ----

namespace {

void AppendEscapedByte(std::string& out, unsigned char c) {
  static const char* kHex = "0123456789abcdef";
  out += "\\u00";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// Appends s as a JSON string. Valid UTF-8 passes through; each byte outside a valid sequence
// becomes \u00XX, so any BYTES element can be answered (the client sees that byte's Latin-1
// character).

}  // namespace

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


namespace {

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


template <typename T>
T LoadAs(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void ElementReader::AppendNext(std::string& out) {
  const char* p = t_.data.data() + off_;
  switch (t_.dtype) {
    case DataType::kBool: out += *p ? "true" : "false"; break;
    case DataType::kUint8: AppendInteger(out, LoadAs<uint8_t>(p)); break;
    case DataType::kUint16: AppendInteger(out, LoadAs<uint16_t>(p)); break;
    case DataType::kUint32: AppendInteger(out, LoadAs<uint32_t>(p)); break;
    case DataType::kUint64: AppendInteger(out, LoadAs<uint64_t>(p)); break;
    case DataType::kInt8: AppendInteger(out, LoadAs<int8_t>(p)); break;
    case DataType::kInt16: AppendInteger(out, LoadAs<int16_t>(p)); break;
    case DataType::kInt32: AppendInteger(out, LoadAs<int32_t>(p)); break;
    case DataType::kInt64: AppendInteger(out, LoadAs<int64_t>(p)); break;
    case DataType::kFp16: AppendFloating(out, HalfToDouble(LoadAs<uint16_t>(p))); break;
    case DataType::kFp32: AppendFloating(out, LoadAs<float>(p)); break;
    case DataType::kFp64: AppendFloating(out, LoadAs<double>(p)); break;
    case DataType::kBytes: {
      uint32_t len = LoadAs<uint32_t>(p);
      AppendJsonString(out, std::string_view(p + 4, len));
      off_ += 4 + static_cast<size_t>(len);
      return;
    }
  }
  off_ += ElementSize(t_.dtype);
}

void AppendShape(std::string& out, const std::vector<int64_t>& shape) {
  out += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ',';
    AppendInteger(out, shape[i]);
  }
  out += ']';
}

void AppendFlat(std::string& out, const Tensor& t) {
  ElementReader r(t);
  int64_t n = t.ElementCount();
  for (int64_t k = 0; k < n; ++k) {
    if (k) out += ',';
    r.AppendNext(out);
  }
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

}  // namespace aimass::serving::json_tensor
