// JSON and tensor elements, both ways, shared by the inference codecs (infer_codec.cpp: the
// v2 REST body; predict_codec.cpp: v1; binary_extension.cpp: raw tensor bytes after the JSON).
// Internal to serving: only those files include it (it pulls in simdjson).
#pragma once

#include <charconv>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "common/status.hpp"
#include "serving/tensor.hpp"

namespace aimass::serving::json_tensor {

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

// A name as it may appear in an error message: capped, and printable ASCII only, so that a
// hostile name can neither flood the log nor break the JSON of the error body.
std::string Quoted(std::string_view name);
std::string InputLabel(std::string_view name);

// The value of a JSON integer >= 0 (simdjson types those up to INT64_MAX as INT64), or nullopt.
std::optional<uint64_t> UnsignedInteger(Json v);
// The member `key` of a JSON object, or nullopt. With duplicate keys the first counts.
std::optional<Json> Member(dom::object obj, std::string_view key);

// Fills t.data from `data`, flat (row-major) or nested to match t.shape. `text_size` is the
// size of the JSON the data came from: every element takes at least one character of it, so a
// shape asking for more cannot be satisfied and is refused before anything is allocated.
Status WriteData(Json data, Tensor& t, const std::string& label, size_t text_size);
// Fills t.data from `rows` nested exactly as t.shape says (v1's rows); `count` elements, known
// to be plausible.
Status WriteRows(Json rows, Tensor& t, const std::string& label, size_t count);

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

// Appends s as a JSON string. Valid UTF-8 passes through; each byte outside a valid sequence
// becomes \u00XX, so any BYTES element can be answered (the client sees that byte's Latin-1
// character).
void AppendJsonString(std::string& out, std::string_view s);

template <typename T>
void AppendInteger(std::string& out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Reads a valid tensor's elements in order and writes each as JSON.
class ElementReader {
 public:
  explicit ElementReader(const Tensor& t) : t_(t) {}
  void AppendNext(std::string& out);

 private:
  const Tensor& t_;
  size_t off_ = 0;
};

void AppendShape(std::string& out, const std::vector<int64_t>& shape);
// Every element of `t`, flat, comma-separated.
void AppendFlat(std::string& out, const Tensor& t);
// Writes dimensions [depth, rank) of the shape as nested arrays, elements from `r`.
void AppendNested(std::string& out, const std::vector<int64_t>& shape, size_t depth, ElementReader& r);
// How many arrays AppendNested writes for dimensions [depth, rank), saturating.
uint64_t NestedArrayCount(const std::vector<int64_t>& shape, size_t depth);
// Outputs come from a runtime, not the client: one that does not hold what its shape says is
// our fault, not the request's.
Status CheckOutput(const Tensor& t);

}  // namespace aimass::serving::json_tensor
