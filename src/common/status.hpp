// Status and Result<T>: how errors travel through AI Mass, as values rather than exceptions.
// A Status carries a code that maps one-to-one onto the HTTP error model (docs/errors.md)
// and a human message that must never contain secrets or echo request bodies; it may name the
// (length-capped) path or name a request was about.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace aimass {

enum class Code {
  kOk = 0,
  kBadRequest,         // 400 bad_request
  kInvalidJson,        // 400 invalid_json
  kUnauthenticated,    // 401 unauthenticated
  kForbidden,          // 403 forbidden
  kNotFound,           // 404 not_found
  kMethodNotAllowed,   // 405 method_not_allowed
  kTimeout,            // 408 timeout
  kConflict,           // 409 conflict
  kPayloadTooLarge,    // 413 payload_too_large
  kRangeNotSatisfiable,// 416 range_not_satisfiable
  kUnprocessable,      // 422 unprocessable
  kRateLimited,        // 429 rate_limited
  kHeadersTooLarge,    // 431 headers_too_large
  kInternal,           // 500 internal
  kBadGateway,         // 502 bad_gateway
  kUnavailable,        // 503 unavailable
  kDeadlineExceeded,   // 504 deadline_exceeded
  kInsufficientStorage,// 507 insufficient_storage
};

// The wire name of a code ("not_found"), used in error bodies and logs.
std::string_view CodeName(Code code);
// The HTTP status a code is answered with.
int HttpStatus(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status BadRequest(std::string m) { return {Code::kBadRequest, std::move(m)}; }
  static Status InvalidJson(std::string m) { return {Code::kInvalidJson, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
  static Status Forbidden(std::string m) { return {Code::kForbidden, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status TooLarge(std::string m) { return {Code::kPayloadTooLarge, std::move(m)}; }
  static Status Unprocessable(std::string m) { return {Code::kUnprocessable, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status BadGateway(std::string m) { return {Code::kBadGateway, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                 // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}          // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace aimass

// Returns early with the Status of `expr` when it is not ok.
#define AIMASS_RETURN_IF_ERROR(expr)         \
  do {                                       \
    ::aimass::Status _st = (expr);           \
    if (!_st.ok()) return _st;               \
  } while (0)

#define AIMASS_CONCAT_INNER(a, b) a##b
#define AIMASS_CONCAT(a, b) AIMASS_CONCAT_INNER(a, b)
// Assigns the value of a Result to `lhs`, or returns its Status.
#define AIMASS_ASSIGN_OR_RETURN(lhs, expr) \
  AIMASS_ASSIGN_OR_RETURN_IMPL(AIMASS_CONCAT(_res_, __LINE__), lhs, expr)
#define AIMASS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
