#include "common/status.hpp"

namespace aimass {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kBadRequest: return "bad_request";
    case Code::kInvalidJson: return "invalid_json";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kForbidden: return "forbidden";
    case Code::kNotFound: return "not_found";
    case Code::kMethodNotAllowed: return "method_not_allowed";
    case Code::kTimeout: return "timeout";
    case Code::kConflict: return "conflict";
    case Code::kPayloadTooLarge: return "payload_too_large";
    case Code::kRangeNotSatisfiable: return "range_not_satisfiable";
    case Code::kUnprocessable: return "unprocessable";
    case Code::kRateLimited: return "rate_limited";
    case Code::kHeadersTooLarge: return "headers_too_large";
    case Code::kInternal: return "internal";
    case Code::kBadGateway: return "bad_gateway";
    case Code::kUnavailable: return "unavailable";
    case Code::kDeadlineExceeded: return "deadline_exceeded";
    case Code::kInsufficientStorage: return "insufficient_storage";
  }
  return "internal";
}

int HttpStatus(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kBadRequest: return 400;
    case Code::kInvalidJson: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kForbidden: return 403;
    case Code::kNotFound: return 404;
    case Code::kMethodNotAllowed: return 405;
    case Code::kTimeout: return 408;
    case Code::kConflict: return 409;
    case Code::kPayloadTooLarge: return 413;
    case Code::kRangeNotSatisfiable: return 416;
    case Code::kUnprocessable: return 422;
    case Code::kRateLimited: return 429;
    case Code::kHeadersTooLarge: return 431;
    case Code::kInternal: return 500;
    case Code::kBadGateway: return 502;
    case Code::kUnavailable: return 503;
    case Code::kDeadlineExceeded: return 504;
    case Code::kInsufficientStorage: return 507;
  }
  return 500;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace aimass
