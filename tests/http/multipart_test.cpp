#include "http/multipart.hpp"

#include <gtest/gtest.h>

namespace aimass::http {
namespace {

TEST(MultipartTest, BoundaryFromContentType) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\""), "a b");
  EXPECT_FALSE(MultipartBoundary("application/json").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'x')).ok());
}

TEST(MultipartTest, PartsAreOffsetsIntoTheBody) {
  std::string body =
      "preamble\r\n--XX\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
      "Content-Type: application/json\r\n\r\n{\"a\":1}\r\n--XX\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"m.onnx\"\r\n\r\n"
      "bin\r\n-XX\r\n--XX--\r\n";
  auto parts = ParseMultipart(body, "XX");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "metadata");
  EXPECT_EQ((*parts)[0].content_type, "application/json");
  EXPECT_EQ(body.substr((*parts)[0].offset, (*parts)[0].length), "{\"a\":1}");
  EXPECT_EQ((*parts)[1].name, "file");
  EXPECT_EQ((*parts)[1].filename, "m.onnx");
  // CRLF and dashes that do not make the delimiter are content.
  EXPECT_EQ(body.substr((*parts)[1].offset, (*parts)[1].length), "bin\r\n-XX");
}

TEST(MultipartTest, MalformedBodiesAreBadRequest) {
  for (const char* bad : {"", "--XX", "--XX\r\nno colon\r\n\r\nx\r\n--XX--",
                          "--XX\r\nContent-Type: a\r\n\r\nx\r\n--XX--",  // no disposition
                          "--XX\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XX--",
                          "--XX\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated",
                          "--XXjunk"}) {
    auto parts = ParseMultipart(bad, "XX");
    EXPECT_FALSE(parts.ok()) << bad;
    if (!parts.ok()) {
      EXPECT_EQ(parts.status().code(), Code::kBadRequest);
    }
  }
}

TEST(MultipartTest, AtMostSixteenParts) {
  std::string body;
  for (int i = 0; i < 17; ++i) body += "--B\r\nContent-Disposition: form-data; name=p\r\n\r\nx\r\n";
  body += "--B--";
  EXPECT_FALSE(ParseMultipart(body, "B").ok());
}

}  // namespace
}  // namespace aimass::http
