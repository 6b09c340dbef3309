// Consumers: the third-party systems and apps that call gateway routes with credentials of
// their own rather than platform logins. A consumer has platform roles (for routes' RBAC
// permissions), JWT credentials (HS256 secret, RS256 public key, or a JWKS URL refreshed in the
// background), API keys and OAuth 2.0 clients (client-credentials grant at /oauth/token).
// ConsumerVerifier turns a presented JWT into the consumer it belongs to. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.hpp"

namespace aimass::auth {
class Jwt;
}

namespace aimass::gateway {

// One way a consumer signs its tokens. `key` is what the token's `iss` claim must say (Kong's
// convention), which is how a token finds its credential.
struct JwtCredential {
  std::string key;
  std::string algorithm = "HS256";  // HS256 | RS256
  std::string secret;               // HS256; never shown back
  std::string public_key;           // RS256, PEM
  std::string jwks_url;             // RS256 keys by `kid`, fetched and refreshed
  std::vector<std::string> audiences;  // when set, the token's `aud` must name one
};

struct ConsumerSpec {
  std::string name;
  std::vector<std::string> roles;  // platform roles: what the consumer may do on routes
  std::vector<JwtCredential> jwt;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

Result<ConsumerSpec> ParseConsumer(const nlohmann::json& j);
// `with_secrets`: for the store; the API shows credentials without secrets.
nlohmann::json ToJson(const ConsumerSpec& c, bool with_secrets);

// The `iss` claim of a JWT, read without verifying anything (to find the key that will).
std::optional<std::string> PeekIssuer(std::string_view token);

// An RSA public key given as a JWK (n, e) in PEM (SubjectPublicKeyInfo).
Result<std::string> JwkToPem(const nlohmann::json& jwk);

// Verifies consumer JWTs against the credentials of every consumer. Rebuilt when consumers
// change; JWKS keys are fetched by Refresh (called from a background thread).
class ConsumerVerifier {
 public:
  ConsumerVerifier(const std::vector<ConsumerSpec>& consumers);
  ~ConsumerVerifier();

  // The consumer whose credential signed `token`; unauthenticated with the reason otherwise
  // (unknown issuer, pinned algorithm, signature, exp required, nbf, aud).
  Result<std::string> Verify(std::string_view token, int64_t now_unix) const;
  // The consumer of a token verified before and not expired yet, without verifying it again
  // (a signature check and two JSON parses per request otherwise).
  std::optional<std::string> Cached(std::string_view token, int64_t now_unix) const;
  // Whether some consumer credential has this issuer key.
  bool HasIssuer(const std::string& iss) const { return by_key_.count(iss) > 0; }

  // URLs of JWKS credentials whose keys are due for a fetch.
  std::vector<std::string> JwksDue(std::chrono::steady_clock::time_point now) const;
  // Installs the keys fetched from `url` (a JWKS document), or records the failure.
  void SetJwks(const std::string& url, const Result<std::string>& document, std::chrono::steady_clock::time_point now);

 private:
  struct Credential;
  std::map<std::string, std::unique_ptr<Credential>> by_key_;  // iss -> credential
  mutable std::mutex jwks_mu_;
  // Tokens that verified: token -> (consumer, exp). Bounded: emptied when it grows past 10,000.
  mutable std::mutex verified_mu_;
  mutable std::unordered_map<std::string, std::pair<std::string, int64_t>> verified_;
};

}  // namespace aimass::gateway
