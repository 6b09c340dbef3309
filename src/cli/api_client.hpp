// ApiClient: how the CLI talks to a server. Resolves the server URL and token (flags, then
// AIMASS_SERVER / AIMASS_TOKEN, then the saved login, whose token only ever goes to its own
// server) and turns HTTP error answers into Status values carrying the server's code and
// message.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "http/client.hpp"

namespace aimass::cli {

class ApiClient {
 public:
  ApiClient(std::string server_flag, std::string token_flag)
      : server_flag_(std::move(server_flag)), token_flag_(std::move(token_flag)) {}

  // need_token: commands other than login; login never sends a token.
  Status Resolve(bool need_token);

  // A JSON request and answer.
  Result<nlohmann::json> Call(http::Method m, const std::string& path,
                              const nlohmann::json* body = nullptr);
  // Raw bytes both ways (uploads, downloads); extra headers as given.
  Result<http::ClientResponse> Send(http::Method m, const std::string& path, std::string body,
                                    std::vector<std::pair<std::string, std::string>> headers);

  const std::string& server() const { return server_; }

 private:
  std::string server_flag_;
  std::string token_flag_;
  std::string server_;
  std::string token_;
  http::Client client_;
};

// Percent-encodes a path segment or query value.
std::string UrlEncode(const std::string& s);

}  // namespace aimass::cli
