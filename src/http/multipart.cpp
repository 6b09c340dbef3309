#include "http/multipart.hpp"

#include <strings.h>

#include "common/text.hpp"

namespace aimass::http {

namespace {

constexpr size_t kMaxParts = 16;
constexpr size_t kMaxHeaderBytes = 8 * 1024;

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// The value of `key=` among ';'-separated parameters, unquoted.
std::string Param(std::string_view header, std::string_view key) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t semi = header.find(';', pos);
    std::string_view item = TrimSpaces(header.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos));
    pos = semi == std::string_view::npos ? header.size() : semi + 1;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = TrimSpaces(item.substr(0, eq));
    if (k.size() != key.size() || strncasecmp(k.data(), key.data(), key.size()) != 0) continue;
    std::string_view v = TrimSpaces(item.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return {};
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  if (!StartsWithNoCase(content_type, "multipart/form-data")) {
    return Status::BadRequest("Content-Type must be multipart/form-data");
  }
  std::string b = Param(content_type, "boundary");
  if (b.empty() || b.size() > 70) return Status::BadRequest("multipart boundary missing or longer than 70");
  return b;
}

Result<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary) {
  const Status bad = Status::BadRequest("malformed multipart body");
  std::string delimiter = "--" + std::string(boundary);
  // The first delimiter may follow a preamble; later ones always follow CRLF.
  size_t pos = body.starts_with(delimiter) ? 0 : body.find("\r\n" + delimiter);
  if (pos == std::string_view::npos) return bad;
  if (pos != 0) pos += 2;
  std::vector<MultipartPart> parts;
  std::string next = "\r\n" + delimiter;
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") return bad;
    pos += 2;
    if (parts.size() == kMaxParts) return Status::BadRequest("more than 16 multipart parts");
    size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos || headers_end - pos > kMaxHeaderBytes) return bad;
    MultipartPart part;
    std::string_view headers = body.substr(pos, headers_end - pos);
    bool disposition = false;
    while (!headers.empty()) {
      size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) return bad;
      std::string_view name = TrimSpaces(line.substr(0, colon)), value = TrimSpaces(line.substr(colon + 1));
      if (name.size() == 19 && StartsWithNoCase(name, "content-disposition")) {
        if (!StartsWithNoCase(value, "form-data")) return bad;
        part.name = Param(value, "name");
        part.filename = Param(value, "filename");
        disposition = true;
      } else if (name.size() == 12 && StartsWithNoCase(name, "content-type")) {
        part.content_type = std::string(value);
      }
    }
    if (!disposition || part.name.empty()) return bad;
    part.offset = headers_end + 4;
    size_t end = body.find(next, part.offset);
    if (end == std::string_view::npos) return bad;
    part.length = end - part.offset;
    parts.push_back(std::move(part));
    pos = end + 2;
  }
}

}  // namespace aimass::http
