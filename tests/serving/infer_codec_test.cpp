#include "serving/infer_codec.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace aimass::serving {
namespace {

using nlohmann::json;

// The elements of a fixed-size tensor as T, read independently of the codec.
template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  std::memcpy(v.data(), t.data.data(), v.size() * sizeof(T));
  return v;
}

template <typename T>
std::string Raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// BYTES layout: 4-byte little-endian length, then the bytes.
std::string LengthPrefixed(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    uint32_t len = static_cast<uint32_t>(s.size());
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += s;
  }
  return out;
}

Tensor MakeTensor(std::string name, DataType dtype, std::vector<int64_t> shape, std::string data) {
  Tensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = std::move(data);
  return t;
}

InferRequest MustParse(const std::string& body, std::optional<size_t> header = std::nullopt) {
  auto r = ParseInferRequest(body, header);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : InferRequest{};
}

// A request with one input "x" of the given datatype, shape and JSON data.
std::string OneInput(const std::string& dtype, const std::string& shape, const std::string& data) {
  return R"({"inputs":[{"name":"x","datatype":")" + dtype + R"(","shape":)" + shape + R"(,"data":)" + data + "}]}";
}

// The request must fail with bad_request, name the tensor, and not echo `secret` (a value
// from the data).
void ExpectRejected(const std::string& body, const std::string& name_in_message, const std::string& secret = "",
                    std::optional<size_t> header = std::nullopt) {
  auto r = ParseInferRequest(body, header);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), Code::kBadRequest) << r.status().ToString();
  EXPECT_NE(r.status().message().find(name_in_message), std::string::npos) << r.status().message();
  if (!secret.empty()) {
    EXPECT_EQ(r.status().message().find(secret), std::string::npos) << r.status().message();
  }
}

// ---- parsing ----

TEST(InferCodecTest, FlatFp32) {
  auto req = MustParse(R"({"id":"r-1","inputs":[{"name":"x","shape":[2,3],"datatype":"FP32",
                          "data":[1,2.5,-3,4e2,0.1,6]}]})");
  EXPECT_EQ(req.id, "r-1");
  ASSERT_EQ(req.inputs.size(), 1u);
  const Tensor& x = req.inputs[0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, DataType::kFp32);
  EXPECT_EQ(x.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<float>(x), (std::vector<float>{1, 2.5f, -3, 400, 0.1f, 6}));
  EXPECT_TRUE(req.outputs.empty());
  EXPECT_FALSE(req.binary_default);
}

TEST(InferCodecTest, NestedDataIsRowMajor) {
  auto req = MustParse(OneInput("FP32", "[2,3]", "[[1,2,3],[4,5,6]]"));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(Values<float>(req.inputs[0]), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  auto deep = MustParse(OneInput("INT32", "[2,1,2]", "[[[1,2]],[[3,4]]]"));
  ASSERT_EQ(deep.inputs.size(), 1u);
  EXPECT_EQ(Values<int32_t>(deep.inputs[0]), (std::vector<int32_t>{1, 2, 3, 4}));
  // Empty dimensions, flat and nested.
  auto empty = MustParse(OneInput("FP32", "[0,3]", "[]"));
  EXPECT_TRUE(empty.inputs.at(0).data.empty());
  auto empty_rows = MustParse(OneInput("FP32", "[2,0]", "[[],[]]"));
  EXPECT_TRUE(empty_rows.inputs.at(0).data.empty());
  // A scalar (shape []) holds one element.
  auto scalar = MustParse(OneInput("FP64", "[]", "[2.25]"));
  EXPECT_EQ(Values<double>(scalar.inputs.at(0)), (std::vector<double>{2.25}));
}

TEST(InferCodecTest, Int64RangeAndIntegralFloats) {
  auto req = MustParse(OneInput("INT64", "[5]", "[-9223372036854775808,9223372036854775807,0,2.0,1e3]"));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(Values<int64_t>(req.inputs[0]),
            (std::vector<int64_t>{INT64_MIN, INT64_MAX, 0, 2, 1000}));
  auto u = MustParse(OneInput("UINT64", "[2]", "[18446744073709551615,0]"));
  EXPECT_EQ(Values<uint64_t>(u.inputs.at(0)), (std::vector<uint64_t>{UINT64_MAX, 0}));
  auto i8 = MustParse(OneInput("INT8", "[2]", "[-128,127]"));
  EXPECT_EQ(Values<int8_t>(i8.inputs.at(0)), (std::vector<int8_t>{-128, 127}));
}

TEST(InferCodecTest, BoolAcceptsTrueFalseZeroOne) {
  auto req = MustParse(OneInput("BOOL", "[2,2]", "[[true,false],[0,1]]"));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(req.inputs[0].data, std::string("\x01\x00\x00\x01", 4));
}

TEST(InferCodecTest, BytesAreLengthPrefixed) {
  auto req = MustParse(OneInput("BYTES", "[3]", R"(["hi","","\u00fc\n"])"));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(req.inputs[0].data, LengthPrefixed({"hi", "", "\xc3\xbc\n"}));
  EXPECT_TRUE(req.inputs[0].CheckSize().ok());
}

TEST(InferCodecTest, Fp16RoundsToNearestEven) {
  // 2049 and 2051 sit halfway between representable halves (spacing 2): ties go to the even
  // mantissa. 2^-25 and 3*2^-25 are the same in the subnormal range. 65519 still rounds down
  // to the largest half.
  auto req = MustParse(OneInput(
      "FP16", "[10]",
      "[1,0.1,-2,65504,65519,5.960464477539063e-08,2.9802322387695312e-08,8.940696716308594e-08,2049,2051]"));
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(Values<uint16_t>(req.inputs[0]),
            (std::vector<uint16_t>{0x3C00, 0x2E66, 0xC000, 0x7BFF, 0x7BFF, 0x0001, 0x0000, 0x0002, 0x6800, 0x6802}));
}

TEST(InferCodecTest, Fp16RoundTripsThroughJson) {
  InferResponse resp;
  resp.model_name = "m";
  auto in = MustParse(OneInput("FP16", "[4]", "[0.1,-65504,0.5,6e-8]"));
  ASSERT_EQ(in.inputs.size(), 1u);
  resp.outputs = in.inputs;
  auto enc = EncodeInferResponse(resp, {}, false);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  json doc = json::parse(enc->body);
  // The exact half values, written as numbers.
  EXPECT_EQ(doc["outputs"][0]["data"], json::parse("[0.0999755859375,-65504.0,0.5,5.960464477539063e-08]"));
  // And back to the same bits.
  auto again = MustParse(R"({"inputs":[{"name":"x","datatype":"FP16","shape":[4],"data":)" +
                         doc["outputs"][0]["data"].dump() + "}]}");
  EXPECT_EQ(again.inputs.at(0).data, in.inputs[0].data);
}

TEST(InferCodecTest, BinaryInputsFollowTheJson) {
  std::string header = R"({"inputs":[
      {"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
      {"name":"b","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":13}}]})";
  std::string body = header + Raw<float>({1.5f, -2.0f}) + LengthPrefixed({"hello", ""});
  ASSERT_EQ(LengthPrefixed({"hello", ""}).size(), 13u);
  auto req = MustParse(body, header.size());
  ASSERT_EQ(req.inputs.size(), 2u);
  EXPECT_EQ(Values<float>(req.inputs[0]), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(req.inputs[1].data, LengthPrefixed({"hello", ""}));
}

TEST(InferCodecTest, MixedBinaryAndJsonInputsTakeBytesInOrder) {
  std::string header = R"({"inputs":[
      {"name":"a","shape":[1],"datatype":"INT32","parameters":{"binary_data_size":4}},
      {"name":"b","shape":[2],"datatype":"INT32","data":[7,8]},
      {"name":"c","shape":[2],"datatype":"INT16","parameters":{"binary_data_size":4}}]})";
  std::string body = header + Raw<int32_t>({42}) + Raw<int16_t>({-1, 300});
  auto req = MustParse(body, header.size());
  ASSERT_EQ(req.inputs.size(), 3u);
  EXPECT_EQ(Values<int32_t>(req.inputs[0]), (std::vector<int32_t>{42}));
  EXPECT_EQ(Values<int32_t>(req.inputs[1]), (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(Values<int16_t>(req.inputs[2]), (std::vector<int16_t>{-1, 300}));
}

TEST(InferCodecTest, RequestedOutputsAndBinaryFlags) {
  auto req = MustParse(R"({"inputs":[],"parameters":{"binary_data_output":true},
      "outputs":[{"name":"p","parameters":{"binary_data":true}},{"name":"q"}]})");
  EXPECT_TRUE(req.binary_default);
  ASSERT_EQ(req.outputs.size(), 2u);
  EXPECT_EQ(req.outputs[0].name, "p");
  EXPECT_TRUE(req.outputs[0].binary);
  EXPECT_EQ(req.outputs[1].name, "q");
  EXPECT_FALSE(req.outputs[1].binary);
}

TEST(InferCodecTest, LargeFlatRequest) {
  std::string data = "[";
  for (int i = 0; i < 64 * 784; ++i) data += (i ? "," : "") + std::to_string(i % 256) + ".5";
  data += "]";
  auto req = MustParse(OneInput("FP32", "[64,784]", data));
  ASSERT_EQ(req.inputs.size(), 1u);
  auto v = Values<float>(req.inputs[0]);
  ASSERT_EQ(v.size(), 64u * 784u);
  EXPECT_EQ(v[0], 0.5f);
  EXPECT_EQ(v[300], 44.5f);
  EXPECT_EQ(v.back(), static_cast<float>((64 * 784 - 1) % 256) + 0.5f);
}

// ---- parse errors ----

TEST(InferCodecTest, MalformedJsonIsInvalidJson) {
  for (const char* body : {"", "{", "{\"inputs\":[}", "{} trailing", "\xff"}) {
    auto r = ParseInferRequest(body, std::nullopt);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kInvalidJson) << body;
  }
  // JSON cut short by the header length is malformed too.
  std::string body = OneInput("FP32", "[1]", "[1]");
  auto r = ParseInferRequest(body, body.size() - 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidJson);
}

TEST(InferCodecTest, RequestStructureErrors) {
  for (const char* body : {"[]", "{}", R"({"inputs":{}})", R"({"inputs":[],"id":5})",
                           R"({"inputs":[],"parameters":[]})", R"({"inputs":[],"parameters":{"binary_data_output":1}})",
                           R"({"inputs":[],"outputs":{}})", R"({"inputs":[],"outputs":[{}]})",
                           R"({"inputs":[1]})", R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})"}) {
    auto r = ParseInferRequest(body, std::nullopt);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << body;
  }
  ExpectRejected(R"({"inputs":[],"outputs":[{"name":"o"},{"name":"o"}]})", "output 'o'");
  ExpectRejected(R"({"inputs":[],"outputs":[{"name":"o","parameters":{"binary_data":"yes"}}]})", "output 'o'");
}

TEST(InferCodecTest, ElementCountMustMatchShape) {
  auto r = ParseInferRequest(OneInput("FP32", "[2,3]", "[1,2,3,4,5]"), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_EQ(r.status().message(), "input 'x': shape [2,3] needs 6 elements, got 5");
  ExpectRejected(OneInput("FP32", "[2]", "[1,2,3]"), "input 'x'");
  ExpectRejected(OneInput("FP32", "[]", "[]"), "input 'x'");
}

TEST(InferCodecTest, NestedDataMustMatchShapeExactly) {
  ExpectRejected(OneInput("FP32", "[2,3]", "[[1,2,3],[4,5]]"), "input 'x'");          // ragged
  ExpectRejected(OneInput("FP32", "[2,3]", "[[1,2,3,4,5,6]]"), "input 'x'");          // wrong nesting
  ExpectRejected(OneInput("FP32", "[3,2]", "[[1,2],[3,4]]"), "input 'x'");            // too few rows
  ExpectRejected(OneInput("FP32", "[2]", "[[1],[2]]"), "input 'x'");                  // deeper than shape
  ExpectRejected(OneInput("FP32", "[2,1]", "[[1],2]"), "input 'x'");                  // mixed
  ExpectRejected(OneInput("FP32", "[2]", "[1,[2]]"), "input 'x'");                    // mixed, flat first
  ExpectRejected(OneInput("FP32", "[]", "[[1]]"), "input 'x'");
  ExpectRejected(OneInput("FP32", "[1000000,1000000]", "[[1]]"), "input 'x'");        // cannot fit
  auto r = ParseInferRequest(OneInput("FP32", "[2,3]", "[[1,2,3],[4,5]]"), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "input 'x': nested data does not match shape [2,3] at dimension 1 (expected an array of 3)");
}

TEST(InferCodecTest, ValuesOutOfRangeNameTheTensorNotTheValue) {
  struct Case { const char* dtype; const char* data; const char* secret; };
  for (const Case& c : std::vector<Case>{
           {"INT8", "[1,300]", "300"},
           {"INT8", "[-129]", "129"},
           {"UINT8", "[-77]", "77"},
           {"UINT16", "[65536]", "65536"},
           {"UINT32", "[4294967296]", "4294967296"},
           {"UINT64", "[-5]", "-5"},
           {"INT16", "[40000]", "40000"},
           {"INT32", "[2.5]", "2.5"},
           {"INT64", "[9300000000000000000]", "9300000000000000000"},
           {"INT64", "[1e19]", "1e19"},
           {"INT32", "[\"12345\"]", "12345"},
           {"INT32", "[null]", "null"},
           {"BOOL", "[777]", "777"},
           {"BOOL", "[\"true\"]", "\"true\""},
           {"BOOL", "[0.5]", "0.5"},
           {"FP16", "[65520]", "65520"},
           {"FP16", "[-1e6]", "1e6"},
           {"FP32", "[1e39]", "1e39"},
           {"FP32", "[true]", "true"},
           {"FP64", "[\"s3cr3t\"]", "s3cr3t"},
           {"BYTES", "[12345]", "12345"},
       }) {
    SCOPED_TRACE(std::string(c.dtype) + " " + c.data);
    std::string data = c.data;
    size_t count = 1 + static_cast<size_t>(std::count(data.begin(), data.end(), ','));
    ExpectRejected(OneInput(c.dtype, "[" + std::to_string(count) + "]", data), "input 'x'", c.secret);
  }
  // Integers that no 64-bit integer can hold are refused while parsing, before any tensor is
  // looked at: bad_request, still without the value. A malformed number is invalid_json, and so
  // is one past the double range (as nlohmann, the API's parser, has it).
  for (const char* data : {"[18446744073709551616]", "[-9223372036854775809]"}) {
    SCOPED_TRACE(data);
    ExpectRejected(OneInput("UINT64", "[1]", data), "holds an integer too large for 64 bits",
                   std::string(data).substr(1, 8));
  }
  for (const char* data : {"[01]", "[1.]", "[-]", "[1e400]"}) {
    auto r = ParseInferRequest(OneInput("FP64", "[1]", data), std::nullopt);
    ASSERT_FALSE(r.ok()) << data;
    EXPECT_EQ(r.status().code(), Code::kInvalidJson) << data;
  }
  // Just past INT64's range (the message quotes the bounds, so no secret to look for).
  ExpectRejected(OneInput("INT64", "[1]", "[9223372036854775808]"), "input 'x'");
  ExpectRejected(OneInput("BOOL", "[1]", "[2]"), "input 'x'");
  auto r = ParseInferRequest(OneInput("INT8", "[2]", "[1,300]"), std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "input 'x': element 1 must be an integer in [-128, 127] for INT8");
}

TEST(InferCodecTest, InputHeaderErrors) {
  ExpectRejected(R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})", "input 'x'");              // no shape
  ExpectRejected(R"({"inputs":[{"name":"x","datatype":"FP32","shape":2,"data":[1,2]}]})", "input 'x'");
  ExpectRejected(R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})", "input 'x'");                    // no datatype
  ExpectRejected(OneInput("FLOAT32", "[1]", "[1]"), "input 'x'");                                        // unknown
  ExpectRejected(OneInput("FP32", "[-1]", "[]"), "input 'x'");
  ExpectRejected(OneInput("FP32", "[1.5]", "[1]"), "input 'x'");
  ExpectRejected(OneInput("FP32", "[1,1,1,1,1,1,1,1,1]", "[1]"), "input 'x'");                          // 9 dims
  ExpectRejected(OneInput("FP32", "[4294967296,4294967296]", "[1]"), "input 'x'");                      // overflow
  ExpectRejected(OneInput("FP32", "[9223372036854775808]", "[1]"), "input 'x'");
  ExpectRejected(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]})", "input 'x'");            // no data
  ExpectRejected(OneInput("FP32", "[1]", "1"), "input 'x'");                                             // not an array
  ExpectRejected(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],"parameters":7}]})", "input 'x'");
  // 8 dimensions is fine.
  MustParse(OneInput("FP32", "[1,1,1,1,1,1,1,1]", "[1]"));
}

TEST(InferCodecTest, DuplicateAndTooManyInputs) {
  ExpectRejected(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]},
                               {"name":"x","datatype":"FP32","shape":[1],"data":[2]}]})", "input 'x'");
  std::string many = R"({"inputs":[)";
  for (int i = 0; i < 65; ++i) {
    many += (i ? "," : "") + std::string(R"({"name":"i)") + std::to_string(i) + R"(","datatype":"FP32","shape":[1],"data":[1]})";
  }
  many += "]}";
  auto r = ParseInferRequest(many, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_NE(r.status().message().find("64"), std::string::npos);
  // 64 is allowed.
  size_t cut = many.rfind(R"(,{"name":"i64")");
  ASSERT_NE(cut, std::string::npos);
  EXPECT_EQ(MustParse(many.substr(0, cut) + "]}").inputs.size(), 64u);
}

TEST(InferCodecTest, LongOrOddNamesAreCappedInMessages) {
  std::string name(500, 'n');
  auto r = ParseInferRequest(R"({"inputs":[{"name":")" + name + R"(","datatype":"FP32","shape":[2],"data":[1]}]})",
                             std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 200u);
  auto odd = ParseInferRequest(R"({"inputs":[{"name":"a\nb","datatype":"FP32","shape":[2],"data":[1]}]})", std::nullopt);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find("input 'a?b'"), std::string::npos) << odd.status().message();
}

TEST(InferCodecTest, BinaryErrors) {
  const std::string a4 = R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]})";
  // Header length past the body.
  auto r = ParseInferRequest(a4, a4.size() + 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  // Too few bytes after the JSON, and no header at all.
  ExpectRejected(a4 + "xyz", "input 'a'", "", a4.size());
  ExpectRejected(a4, "input 'a'");
  // Bytes left over.
  r = ParseInferRequest(a4 + "abcdX", a4.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  // Size that does not match the shape.
  const std::string a3 = R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":3}}]})";
  ExpectRejected(a3 + "abc", "input 'a'", "", a3.size());
  // Both data and binary, a bad size, BOOL bytes other than 0/1, malformed BYTES.
  const std::string both = R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]})";
  ExpectRejected(both + "abcd", "input 'a'", "", both.size());
  const std::string neg = R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":-4}}]})";
  ExpectRejected(neg, "input 'a'", "", neg.size());
  const std::string b = R"({"inputs":[{"name":"b","shape":[2],"datatype":"BOOL","parameters":{"binary_data_size":2}}]})";
  ExpectRejected(b + std::string("\x01\x02", 2), "input 'b'", "", b.size());
  EXPECT_TRUE(ParseInferRequest(b + std::string("\x01\x00", 2), b.size()).ok());
  const std::string s = R"({"inputs":[{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":9}}]})";
  ExpectRejected(s + LengthPrefixed({"hello"}), "tensor 's'", "hello", s.size());  // one element, shape says 2
}

// ---- encoding ----

TEST(InferCodecTest, EncodesJsonOutputs) {
  InferResponse resp;
  resp.model_name = "fashion";
  resp.model_version = "3";
  resp.id = "r-1";
  resp.outputs.push_back(MakeTensor("y", DataType::kFp32, {2}, Raw<float>({1.0f, 0.1f})));
  resp.outputs.push_back(MakeTensor("k", DataType::kInt64, {1, 2}, Raw<int64_t>({-3, INT64_MAX})));
  resp.outputs.push_back(MakeTensor("b", DataType::kBool, {2}, std::string("\x01\x00", 2)));
  resp.outputs.push_back(MakeTensor("s", DataType::kBytes, {2}, LengthPrefixed({"a\"b", "\xc3\xbc\xff"})));
  auto enc = EncodeInferResponse(resp, {}, false);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_FALSE(enc->json_header_length.has_value());
  EXPECT_EQ(enc->body,
            R"({"model_name":"fashion","model_version":"3","id":"r-1","outputs":[)"
            R"({"name":"y","datatype":"FP32","shape":[2],"data":[1.0,0.1]},)"
            R"({"name":"k","datatype":"INT64","shape":[1,2],"data":[-3,9223372036854775807]},)"
            R"({"name":"b","datatype":"BOOL","shape":[2],"data":[true,false]},)"
            "{\"name\":\"s\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"a\\\"b\",\"\xc3\xbc\\u00ff\"]}]}");
  // The output is valid JSON (the invalid byte became an escape) and FP32 reads back exactly.
  json doc = json::parse(enc->body);
  EXPECT_EQ(doc["outputs"][0]["data"][1].get<float>(), 0.1f);
  EXPECT_EQ(doc["outputs"][3]["data"][1].get<std::string>(), "\xc3\xbc\xc3\xbf");
}

TEST(InferCodecTest, NonFiniteFloatsAreNull) {
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(MakeTensor("y", DataType::kFp64, {2}, Raw<double>({NAN, -INFINITY})));
  auto enc = EncodeInferResponse(resp, {}, false);
  ASSERT_TRUE(enc.ok());
  EXPECT_NE(enc->body.find(R"("data":[null,null])"), std::string::npos) << enc->body;
}

TEST(InferCodecTest, BinaryOutputsFollowTheJsonInRequestedOrder) {
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(MakeTensor("p", DataType::kFp32, {2}, Raw<float>({1, 2})));
  resp.outputs.push_back(MakeTensor("q", DataType::kInt32, {1}, Raw<int32_t>({9})));
  resp.outputs.push_back(MakeTensor("r", DataType::kUint8, {3}, "abc"));
  auto enc = EncodeInferResponse(resp, {{"r", true}, {"q", false}, {"p", true}}, false);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  ASSERT_TRUE(enc->json_header_length.has_value());
  size_t n = *enc->json_header_length;
  json doc = json::parse(enc->body.substr(0, n));
  ASSERT_EQ(doc["outputs"].size(), 3u);
  EXPECT_EQ(doc["outputs"][0]["name"], "r");
  EXPECT_EQ(doc["outputs"][0]["parameters"]["binary_data_size"], 3);
  EXPECT_FALSE(doc["outputs"][0].contains("data"));
  EXPECT_EQ(doc["outputs"][1]["name"], "q");
  EXPECT_EQ(doc["outputs"][1]["data"], json::parse("[9]"));
  EXPECT_EQ(doc["outputs"][2]["parameters"]["binary_data_size"], 8);
  EXPECT_EQ(enc->body.substr(n), "abc" + Raw<float>({1, 2}));
}

TEST(InferCodecTest, BinaryDataOutputMakesEveryOutputBinary) {
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(MakeTensor("p", DataType::kFp16, {1}, Raw<uint16_t>({0x3C00})));
  resp.outputs.push_back(MakeTensor("s", DataType::kBytes, {1}, LengthPrefixed({"xy"})));
  auto enc = EncodeInferResponse(resp, {}, true);
  ASSERT_TRUE(enc.ok());
  ASSERT_TRUE(enc->json_header_length.has_value());
  json doc = json::parse(enc->body.substr(0, *enc->json_header_length));
  EXPECT_EQ(doc["outputs"][0]["parameters"]["binary_data_size"], 2);
  EXPECT_EQ(doc["outputs"][1]["parameters"]["binary_data_size"], 6);
  EXPECT_EQ(enc->body.substr(*enc->json_header_length), Raw<uint16_t>({0x3C00}) + LengthPrefixed({"xy"}));
  // Requested outputs with binary_default: binary even without their own flag.
  auto one = EncodeInferResponse(resp, {{"s", false}}, true);
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(one->json_header_length.has_value());
  EXPECT_EQ(one->body.substr(*one->json_header_length), LengthPrefixed({"xy"}));
}

TEST(InferCodecTest, EncodeErrors) {
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(MakeTensor("p", DataType::kFp32, {2}, Raw<float>({1, 2})));
  auto unknown = EncodeInferResponse(resp, {{"nope", false}}, false);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Code::kBadRequest);
  EXPECT_NE(unknown.status().message().find("'nope'"), std::string::npos);
  resp.outputs[0].shape = {3};  // the runtime's data does not match its shape
  auto bad = EncodeInferResponse(resp, {}, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInternal);
}

TEST(InferCodecTest, BinaryRequestRoundTripsThroughAResponse) {
  // Every datatype, sent as binary, answered as binary: the same bytes come back.
  auto req = MustParse(R"({"inputs":[
      {"name":"a","shape":[2],"datatype":"UINT16","data":[0,65535]},
      {"name":"b","shape":[1,2],"datatype":"FP64","data":[[1e-300,-0.0]]},
      {"name":"c","shape":[2],"datatype":"BYTES","data":["x",""]}]})");
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs = req.inputs;
  auto enc = EncodeInferResponse(resp, {}, true);
  ASSERT_TRUE(enc.ok());
  ASSERT_TRUE(enc->json_header_length.has_value());
  json doc = json::parse(enc->body.substr(0, *enc->json_header_length));
  json again = {{"inputs", doc["outputs"]}};
  std::string header = again.dump();
  auto back = MustParse(header + enc->body.substr(*enc->json_header_length), header.size());
  ASSERT_EQ(back.inputs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back.inputs[i].name, req.inputs[i].name);
    EXPECT_EQ(back.inputs[i].dtype, req.inputs[i].dtype);
    EXPECT_EQ(back.inputs[i].shape, req.inputs[i].shape);
    EXPECT_EQ(back.inputs[i].data, req.inputs[i].data);
  }
}

// ---- v1 ----

TEST(InferCodecTest, PredictInstancesSingleDimension) {
  auto r = ParsePredictRequest(R"({"instances":[1,2.5,3]})", {{"x", DataType::kFp32}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name, "x");
  EXPECT_EQ((*r)[0].shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2.5f, 3}));
}

TEST(InferCodecTest, PredictInstancesMultiDimension) {
  auto r = ParsePredictRequest(R"({"instances":[[[1,2]],[[3,4]],[[5,6]]]})", {{"x", DataType::kInt32}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].shape, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  auto bytes = ParsePredictRequest(R"({"instances":["a","bc"]})", {{"t", DataType::kBytes}});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ((*bytes)[0].data, LengthPrefixed({"a", "bc"}));
}

TEST(InferCodecTest, PredictColumnarInputs) {
  auto r = ParsePredictRequest(R"({"inputs":{"b":[true,false],"a":[[1,2],[3,4]]}})",
                               {{"a", DataType::kInt64}, {"b", DataType::kBool}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "a");  // model order, not request order
  EXPECT_EQ((*r)[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ((*r)[1].data, std::string("\x01\x00", 2));
  auto plain = ParsePredictRequest(R"({"inputs":[[1],[2]]})", {{"x", DataType::kFp64}});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)[0].shape, (std::vector<int64_t>{2, 1}));
}

TEST(InferCodecTest, PredictErrors) {
  const std::vector<std::pair<std::string, DataType>> one = {{"x", DataType::kInt8}};
  const std::vector<std::pair<std::string, DataType>> two = {{"x", DataType::kFp32}, {"y", DataType::kFp32}};
  auto expect_bad = [](const Result<std::vector<Tensor>>& r, Code code, const std::string& needle,
                       const std::string& secret = "") {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
    if (!secret.empty()) {
      EXPECT_EQ(r.status().message().find(secret), std::string::npos);
    }
  };
  expect_bad(ParsePredictRequest("{", one), Code::kInvalidJson, "");
  expect_bad(ParsePredictRequest("{}", one), Code::kBadRequest, "instances");
  expect_bad(ParsePredictRequest(R"({"instances":[]})", one), Code::kBadRequest, "input 'x'");
  expect_bad(ParsePredictRequest(R"({"instances":[[1,2],[3]]})", one), Code::kBadRequest, "input 'x'");
  expect_bad(ParsePredictRequest(R"({"instances":[[1,2],3]})", one), Code::kBadRequest, "input 'x'");
  expect_bad(ParsePredictRequest(R"({"instances":[1,4321]})", one), Code::kBadRequest, "input 'x'", "4321");
  expect_bad(ParsePredictRequest(R"({"instances":[1],"inputs":[1]})", one), Code::kBadRequest, "both");
  expect_bad(ParsePredictRequest(R"({"instances":[1]})", two), Code::kBadRequest, "one input");
  expect_bad(ParsePredictRequest(R"({"inputs":{"x":[1]}})", two), Code::kBadRequest, "input 'y'");
  expect_bad(ParsePredictRequest(R"({"inputs":{"x":[1],"y":[1],"z":[1]}})", two), Code::kBadRequest, "'z'");
  expect_bad(ParsePredictRequest(R"({"instances":[[[[[[[[[1]]]]]]]]]})", one), Code::kBadRequest, "input 'x'");
  // Rows whose first one is small but the rest would make a huge shape.
  expect_bad(ParsePredictRequest(R"({"instances":[[[1000000]],[[1]]]})", one), Code::kBadRequest, "input 'x'");
}

TEST(InferCodecTest, PredictionsForOneOutputAreNestedRows) {
  auto enc = EncodePredictResponse({MakeTensor("y", DataType::kFp32, {2, 2}, Raw<float>({1, 2.5f, 3, 4}))});
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_EQ(*enc, R"({"predictions":[[1.0,2.5],[3.0,4.0]]})");
  auto scalar = EncodePredictResponse({MakeTensor("y", DataType::kInt32, {}, Raw<int32_t>({7}))});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(*scalar, R"({"predictions":[7]})");
  auto none = EncodePredictResponse({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, R"({"predictions":[]})");
}

TEST(InferCodecTest, PredictionsForSeveralOutputsAreObjectsPerRow) {
  auto enc = EncodePredictResponse({
      MakeTensor("label", DataType::kBytes, {2}, LengthPrefixed({"cat", "dog"})),
      MakeTensor("scores", DataType::kFp32, {2, 2}, Raw<float>({0.25f, 0.75f, 1, 0})),
  });
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  EXPECT_EQ(*enc, R"({"predictions":[{"label":"cat","scores":[0.25,0.75]},{"label":"dog","scores":[1.0,0.0]}]})");
  auto mismatch = EncodePredictResponse({MakeTensor("a", DataType::kInt8, {2}, "ab"),
                                         MakeTensor("b", DataType::kInt8, {3}, "abc")});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), Code::kBadRequest);
  EXPECT_NE(mismatch.status().message().find("'b'"), std::string::npos);
  // Nothing huge is written for an empty tensor with a large leading dimension.
  auto huge = EncodePredictResponse({MakeTensor("z", DataType::kFp32, {int64_t{1} << 40, 0}, "")});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), Code::kInternal);
}

}  // namespace
}  // namespace aimass::serving
