#include "cli/api_client.hpp"

#include <cstdlib>

#include "cli/client_config.hpp"
#include "common/text.hpp"

namespace aimass::cli {

using nlohmann::json;

static std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Status ApiClient::Resolve(bool need_token) {
  auto saved = LoadClientConfig();
  if (!saved.ok()) return saved.status();
  server_ = server_flag_;
  if (server_.empty()) server_ = Env("AIMASS_SERVER");
  if (server_.empty()) server_ = saved->server;
  if (server_.empty()) server_ = "http://127.0.0.1:8080";
  while (!server_.empty() && server_.back() == '/') server_.pop_back();
  token_ = token_flag_;
  if (token_.empty()) token_ = Env("AIMASS_TOKEN");
  // The saved token belongs to the saved server: never send it anywhere else.
  if (token_.empty() && server_ == saved->server) token_ = saved->token;
  if (!need_token) token_.clear();  // login sends credentials, not a token
  if (need_token && token_.empty()) {
    return Status::Unauthenticated("not logged in: run `aimass login` or pass --token");
  }
  return Status::Ok();
}

Result<http::ClientResponse> ApiClient::Send(http::Method m, const std::string& path,
                                             std::string body,
                                             std::vector<std::pair<std::string, std::string>> headers) {
  http::ClientRequest req;
  req.method = m;
  req.url = server_ + path;
  req.headers = std::move(headers);
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  req.body = std::move(body);
  req.timeout = std::chrono::minutes(10);  // artifacts can be large
  auto res = client_.Send(req);
  if (!res.ok()) return res.status();
  if (res->status >= 400) {
    json j = json::parse(res->body, nullptr, false);
    std::string code = "http_" + std::to_string(res->status), message = res->body.substr(0, 200);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
      code = j["error"].value("code", code);
      message = j["error"].value("message", message);
    }
    return Status(Code::kBadRequest, code + ": " + message);
  }
  return res;
}

Result<json> ApiClient::Call(http::Method m, const std::string& path, const json* body) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (body) headers.emplace_back("Content-Type", "application/json");
  auto res = Send(m, path, body ? body->dump() : std::string(), std::move(headers));
  if (!res.ok()) return res.status();
  if (res->body.empty()) return json::object();
  json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded()) return Status::Internal("server answered something that is not JSON");
  return j;
}

std::string UrlEncode(const std::string& s) { return PercentEncode(s); }


}  // namespace aimass::cli
