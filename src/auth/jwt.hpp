// JWT (RFC 7519) signing and verification with OpenSSL: HS256 with a shared secret or RS256
// with a key pair. The algorithm is pinned by configuration: a token whose header names any
// other alg — `none`, or HS256 when RS256 is configured (the public-key-as-secret attack) — is
// rejected before its signature is looked at. Thread-safe after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.hpp"

namespace aimass::auth {

struct JwtKeys {
  std::string algorithm;        // "HS256" or "RS256"
  std::string secret;           // HS256
  std::string private_key_pem;  // RS256, for signing (may be empty on verify-only nodes)
  std::string public_key_pem;   // RS256
};

class Jwt {
 public:
  static Result<std::unique_ptr<Jwt>> Create(const JwtKeys& keys, std::string issuer);
  ~Jwt();

  // Signs `claims` as the payload; the caller sets exp/iat/sub.
  Result<std::string> Sign(const nlohmann::json& claims) const;
  // Checks structure, pinned alg, signature, exp (required), nbf and iss; returns the claims.
  Result<nlohmann::json> Verify(std::string_view token, int64_t now_unix) const;

  const std::string& algorithm() const { return alg_; }

 private:
  Jwt() = default;
  std::string alg_;
  std::string issuer_;
  std::string secret_;
  struct Keys;
  std::unique_ptr<Keys> keys_;
};

std::string Base64UrlEncode(std::string_view data);
std::optional<std::string> Base64UrlDecode(std::string_view data);

}  // namespace aimass::auth
