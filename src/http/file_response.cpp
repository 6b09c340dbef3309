#include "http/file_response.hpp"

#include <charconv>

#include "http/json.hpp"

namespace aimass::http {

namespace {

struct ByteRange {
  uint64_t first = 0;
  uint64_t length = 0;
};

bool ParseU64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// One "bytes=a-b" / "bytes=a-" / "bytes=-n" range. nullopt: ignore the header and send all
// (what RFC 9110 allows for forms we do not serve, such as several ranges); a Status when the
// range cannot be satisfied.
Result<std::optional<ByteRange>> ParseRange(std::string_view h, uint64_t size) {
  const Status unsatisfiable(Code::kRangeNotSatisfiable, "range not satisfiable");
  if (!h.starts_with("bytes=")) return std::optional<ByteRange>{};
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::optional<ByteRange>{};
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) return unsatisfiable;
  std::string_view a = h.substr(0, dash), b = h.substr(dash + 1);
  uint64_t first = 0, last = 0;
  if (a.empty()) {
    uint64_t n = 0;
    if (!ParseU64(b, n) || n == 0 || size == 0) return unsatisfiable;
    n = std::min(n, size);
    return std::optional<ByteRange>(ByteRange{size - n, n});
  }
  if (!ParseU64(a, first) || first >= size) return unsatisfiable;
  if (b.empty()) {
    last = size - 1;
  } else if (!ParseU64(b, last) || last < first) {
    return unsatisfiable;
  }
  last = std::min(last, size - 1);
  return std::optional<ByteRange>(ByteRange{first, last - first + 1});
}

}  // namespace

Response FileResponse(const Request& req, const std::string& path, uint64_t size,
                      const std::string& content_type) {
  ByteRange range{0, size};
  int status = 200;
  if (auto h = req.headers.Get("Range")) {
    auto parsed = ParseRange(*h, size);
    if (!parsed.ok()) {
      Response r = ErrorResponse(parsed.status(), req.request_id);
      r.headers.Set("Content-Range", "bytes */" + std::to_string(size));
      return r;
    }
    if (parsed->has_value()) {
      range = **parsed;
      status = 206;
    }
  }
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", content_type);
  r.headers.Set("Accept-Ranges", "bytes");
  if (status == 206) {
    r.headers.Set("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                       std::to_string(range.first + range.length - 1) + "/" +
                                       std::to_string(size));
  }
  r.file = FileBody{path, range.first, range.length};
  return r;
}

}  // namespace aimass::http
