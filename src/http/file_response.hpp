// A file served as a response, honouring a single-range `Range` header (206 with
// Content-Range, 416 when unsatisfiable, the whole file for forms not served, which HTTP
// allows). Used for blobs and model artifacts.
#pragma once

#include <string>

#include "http/message.hpp"

namespace aimass::http {

Response FileResponse(const Request& req, const std::string& path, uint64_t size,
                      const std::string& content_type);

}  // namespace aimass::http
