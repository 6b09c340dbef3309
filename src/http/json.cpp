#include "http/json.hpp"

#include <charconv>

#include "http/router.hpp"

namespace aimass::http {

Result<Json> ParseJsonObject(const Request& req) {
  Json j = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidJson("request body is not valid JSON");
  if (!j.is_object()) return Status::BadRequest("request body must be a JSON object");
  return j;
}

Response JsonResponse(int status, const Json& body) {
  Response r;
  r.status = status;
  r.headers.Set("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response ErrorResponse(const Status& status, std::string_view request_id) {
  Json body = {{"error",
                {{"code", CodeName(status.code())},
                 {"message", status.message()},
                 {"request_id", request_id}}}};
  Response r = JsonResponse(HttpStatus(status.code()), body);
  // ARCHITECTURE.md §3: 429 and 503 always say when to come back.
  if (status.code() == Code::kUnavailable || status.code() == Code::kRateLimited) {
    r.headers.Set("Retry-After", "1");
  }
  return r;
}

Response ErrorFor(const Request& req, const Status& status) {
  if (req.route && req.route->error_response) return req.route->error_response(status, req.request_id);
  return ErrorResponse(status, req.request_id);
}

Response NoContent() {
  Response r;
  r.status = 204;
  return r;
}

Result<std::optional<std::string>> OptionalString(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return Status::BadRequest(std::string("'") + key + "' must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> RequiredString(const Json& obj, const char* key) {
  auto v = OptionalString(obj, key);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return Status::BadRequest(std::string("'") + key + "' is required");
  return **v;
}

Result<std::optional<int64_t>> OptionalInt(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>{};
  if (!it->is_number_integer()) {
    return Status::BadRequest(std::string("'") + key + "' must be an integer");
  }
  return std::optional<int64_t>(it->get<int64_t>());
}

Result<std::optional<std::vector<std::string>>> OptionalStringArray(const Json& obj,
                                                                    const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::vector<std::string>>{};
  Status bad = Status::BadRequest(std::string("'") + key + "' must be an array of strings");
  if (!it->is_array()) return bad;
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) return bad;
    out.push_back(v.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

static bool ParseNonNegative(const std::string& s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}

Result<int64_t> PathInt(const Request& req, const char* name) {
  std::string_view v = req.Param(name);
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 1) return Status::BadRequest(std::string(name) + " is a whole number from 1");
  return n;
}

Result<int64_t> QueryInt(const Request& req, const char* name, int64_t def, int64_t min, int64_t max) {
  auto v = req.Query(name);
  if (!v) return def;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < min || n > max) {
    return Status::BadRequest(std::string(name) + " must be an integer from " + std::to_string(min) + " to " +
                              std::to_string(max));
  }
  return n;
}

Result<PageRequest> ParsePage(const Request& req, int64_t default_size, int64_t max_size) {
  PageRequest page;
  page.size = default_size;
  if (auto s = req.Query("page_size")) {
    if (!ParseNonNegative(*s, page.size) || page.size < 1 || page.size > max_size) {
      return Status::BadRequest("page_size must be an integer from 1 to " + std::to_string(max_size));
    }
  }
  if (auto t = req.Query("page_token"); t && !t->empty()) {
    if (!ParseNonNegative(*t, page.offset)) return Status::BadRequest("invalid page_token");
  }
  return page;
}

std::string NextPageToken(const PageRequest& page, size_t returned) {
  if (static_cast<int64_t>(returned) < page.size) return "";
  return std::to_string(page.offset + page.size);
}

}  // namespace aimass::http
