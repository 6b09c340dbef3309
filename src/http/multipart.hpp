// multipart/form-data (RFC 7578) over a body already in memory or mapped from the upload
// spool: parts are returned as offsets into the body, so a large file part is never copied to
// find it. Limits: 16 parts, 8 KiB of headers per part, boundary 1–70 characters.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::http {

struct MultipartPart {
  std::string name;          // Content-Disposition name=
  std::string filename;      // Content-Disposition filename=, may be empty
  std::string content_type;  // may be empty
  size_t offset = 0;         // of the part's content in the body
  size_t length = 0;
};

// The boundary parameter of a multipart/form-data Content-Type; bad_request when absent.
Result<std::string> MultipartBoundary(std::string_view content_type);
Result<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary);

}  // namespace aimass::http
