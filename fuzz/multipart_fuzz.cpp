// libFuzzer target for multipart/form-data uploads: the first line of the input is the
// Content-Type, the rest the body. Parts must lie inside the body.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/multipart.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto boundary = aimass::http::MultipartBoundary(input.substr(0, nl));
  if (!boundary.ok()) return 0;
  std::string_view body = input.substr(nl + 1);
  auto parts = aimass::http::ParseMultipart(body, *boundary);
  if (!parts.ok()) return 0;
  for (const auto& p : *parts) {
    if (p.offset > body.size() || p.length > body.size() - p.offset) std::abort();
  }
  return 0;
}
