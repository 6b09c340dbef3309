// JSON in and out of handlers, and the error model of ARCHITECTURE.md §3:
// {"error":{"code","message","request_id"}}.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "http/message.hpp"

namespace aimass::http {

using Json = nlohmann::json;

// Parses the request body as a JSON object; malformed JSON is invalid_json, anything but an
// object is bad_request. Never echoes the body in the message.
Result<Json> ParseJsonObject(const Request& req);

Response JsonResponse(int status, const Json& body);
Response ErrorResponse(const Status& status, std::string_view request_id);
inline Response ErrorResponse(std::string_view request_id, const Status& status) {
  return ErrorResponse(status, request_id);
}
Response NoContent();
// The error in the shape the request's route speaks (Route::error_response), else ErrorResponse.
Response ErrorFor(const Request& req, const Status& status);

// Reads an optional string / integer / string-array member, failing with bad_request when the
// member is present with the wrong type.
Result<std::optional<std::string>> OptionalString(const Json& obj, const char* key);
Result<std::optional<int64_t>> OptionalInt(const Json& obj, const char* key);
Result<std::optional<std::vector<std::string>>> OptionalStringArray(const Json& obj,
                                                                    const char* key);

Result<std::string> RequiredString(const Json& obj, const char* key);

// page_size / page_token from the query string; page_size defaults to `default_size` and may
// be 1 to `max_size` (long lists of small items, such as a metric's history, allow more).
struct PageRequest {
  int64_t size = 50;
  int64_t offset = 0;  // decoded page token
};
Result<PageRequest> ParsePage(const Request& req, int64_t default_size = 50, int64_t max_size = 1000);
std::string NextPageToken(const PageRequest& page, size_t returned);

// A whole number from the query string within [min, max]; `def` when absent.
Result<int64_t> QueryInt(const Request& req, const char* name, int64_t def, int64_t min, int64_t max);
// A path parameter that is a whole number from 1 (a version, an id); else bad_request.
Result<int64_t> PathInt(const Request& req, const char* name);

}  // namespace aimass::http

// Handler shorthands, so that a handler reads as parse → call → render. They expect the
// handler's request to be named `req` and return the error model on failure.
#define HTTP_PARSE_BODY(var)                                        \
  auto var##_parsed = ::aimass::http::ParseJsonObject(req);         \
  if (!var##_parsed.ok()) return ::aimass::http::ErrorResponse(var##_parsed.status(), req.request_id); \
  const ::aimass::http::Json& var = *var##_parsed
#define HTTP_TRY(lhs, expr) HTTP_TRY_IMPL(AIMASS_CONCAT(_http_try_, __LINE__), lhs, expr)
#define HTTP_TRY_IMPL(tmp, lhs, expr)                                                    \
  auto tmp = (expr);                                                                     \
  if (!tmp.ok()) return ::aimass::http::ErrorResponse(tmp.status(), req.request_id);     \
  lhs = std::move(tmp).value()
#define HTTP_TRY_STATUS(expr)                                                            \
  if (::aimass::Status _http_st = (expr); !_http_st.ok())                                \
  return ::aimass::http::ErrorResponse(_http_st, req.request_id)
