#include "gateway/consumer.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>
#include <set>

#include "auth/jwt.hpp"
#include "common/name.hpp"
#include "http/client.hpp"
#include "http/json.hpp"

namespace aimass::gateway {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kJwksRefresh = std::chrono::minutes(5);
constexpr auto kJwksRetry = std::chrono::seconds(10);
constexpr auto kJwksUnknownKid = std::chrono::seconds(5);

Result<JwtCredential> ParseCredential(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("each jwt credential must be an object");
  for (const auto& [k, _] : j.items()) {
    if (k != "key" && k != "algorithm" && k != "secret" && k != "public_key" && k != "jwks_url" && k != "audiences") {
      return Status::BadRequest("jwt credential: unknown member '" + k.substr(0, 64) + "'");
    }
  }
  JwtCredential c;
  AIMASS_ASSIGN_OR_RETURN(c.key, http::RequiredString(j, "key"));
  if (c.key.empty() || c.key.size() > 256) return Status::BadRequest("a jwt credential's key (the iss claim) must be 1..256 characters");
  AIMASS_ASSIGN_OR_RETURN(auto alg, http::OptionalString(j, "algorithm"));
  AIMASS_ASSIGN_OR_RETURN(auto secret, http::OptionalString(j, "secret"));
  AIMASS_ASSIGN_OR_RETURN(auto pem, http::OptionalString(j, "public_key"));
  AIMASS_ASSIGN_OR_RETURN(auto jwks, http::OptionalString(j, "jwks_url"));
  AIMASS_ASSIGN_OR_RETURN(auto audiences, http::OptionalStringArray(j, "audiences"));
  c.algorithm = alg.value_or(secret ? "HS256" : "RS256");
  if (c.algorithm != "HS256" && c.algorithm != "RS256") return Status::BadRequest("a jwt credential's algorithm is HS256 or RS256");
  if (c.algorithm == "HS256") {
    if (!secret || secret->size() < 32) return Status::BadRequest("an HS256 credential needs a secret of at least 32 bytes");
    if (pem || jwks) return Status::BadRequest("an HS256 credential takes a secret, not a public key or JWKS URL");
    c.secret = *secret;
  } else {
    if (secret) return Status::BadRequest("an RS256 credential takes a public_key or a jwks_url, not a secret");
    if (pem.has_value() == jwks.has_value()) return Status::BadRequest("an RS256 credential takes one of public_key and jwks_url");
    if (pem) {
      c.public_key = *pem;
      auth::JwtKeys keys{"RS256", "", "", c.public_key};
      if (!auth::Jwt::Create(keys, c.key).ok()) return Status::BadRequest("public_key is not an RSA public key in PEM");
    } else {
      AIMASS_RETURN_IF_ERROR(http::ParseUrl(*jwks).status());
      c.jwks_url = *jwks;
    }
  }
  c.audiences = audiences.value_or(std::vector<std::string>{});
  return c;
}

// The JSON of a token's segment `i` (0 header, 1 payload), unverified: only to find the key.
std::optional<Json> Segment(std::string_view token, int i) {
  size_t a = token.find('.');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = token.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  std::string_view part = i == 0 ? token.substr(0, a) : token.substr(a + 1, b - a - 1);
  auto decoded = auth::Base64UrlDecode(part);
  if (!decoded) return std::nullopt;
  Json j = Json::parse(*decoded, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

}  // namespace

std::optional<std::string> PeekIssuer(std::string_view token) {
  auto payload = Segment(token, 1);
  if (!payload) return std::nullopt;
  auto iss = payload->find("iss");
  if (iss == payload->end() || !iss->is_string()) return std::nullopt;
  return iss->get<std::string>();
}

Result<ConsumerSpec> ParseConsumer(const Json& j) {
  if (!j.is_object()) return Status::BadRequest("a consumer must be a JSON object");
  for (const auto& [k, _] : j.items()) {
    if (k != "name" && k != "roles" && k != "jwt" && k != "created_at" && k != "updated_at") {
      return Status::BadRequest("consumer: unknown member '" + k.substr(0, 64) + "'");
    }
  }
  ConsumerSpec c;
  AIMASS_ASSIGN_OR_RETURN(c.name, http::RequiredString(j, "name"));
  AIMASS_RETURN_IF_ERROR(ValidateName("consumer", c.name, 128));
  AIMASS_ASSIGN_OR_RETURN(auto roles, http::OptionalStringArray(j, "roles"));
  c.roles = roles.value_or(std::vector<std::string>{});
  if (auto creds = j.find("jwt"); creds != j.end() && !creds->is_null()) {
    if (!creds->is_array() || creds->size() > 16) return Status::BadRequest("'jwt' must be an array of at most 16 credentials");
    std::set<std::string> keys;
    for (const auto& cj : *creds) {
      AIMASS_ASSIGN_OR_RETURN(JwtCredential cred, ParseCredential(cj));
      if (!keys.insert(cred.key).second) return Status::BadRequest("jwt credential key '" + cred.key + "' is listed twice");
      c.jwt.push_back(std::move(cred));
    }
  }
  return c;
}

Json ToJson(const ConsumerSpec& c, bool with_secrets) {
  Json creds = Json::array();
  for (const auto& cred : c.jwt) {
    Json j = {{"key", cred.key}, {"algorithm", cred.algorithm}, {"audiences", cred.audiences}};
    if (!cred.secret.empty()) {
      if (with_secrets) j["secret"] = cred.secret;
    }
    if (!cred.public_key.empty()) j["public_key"] = cred.public_key;
    if (!cred.jwks_url.empty()) j["jwks_url"] = cred.jwks_url;
    creds.push_back(std::move(j));
  }
  return {{"name", c.name}, {"roles", c.roles}, {"jwt", creds}, {"created_at", c.created_at}, {"updated_at", c.updated_at}};
}

Result<std::string> JwkToPem(const Json& jwk) {
  if (!jwk.is_object() || jwk.value("kty", "") != "RSA" || !jwk.contains("n") || !jwk.contains("e") ||
      !jwk["n"].is_string() || !jwk["e"].is_string()) {
    return Status::BadRequest("not an RSA JWK");
  }
  auto n = auth::Base64UrlDecode(jwk["n"].get<std::string>());
  auto e = auth::Base64UrlDecode(jwk["e"].get<std::string>());
  if (!n || !e || n->size() < 256 || e->empty() || e->size() > 8) return Status::BadRequest("RSA JWK with a bad or short n/e");
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* pkey = nullptr;
  BIO* bio = nullptr;
  std::string pem;
  bool ok = bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) && (params = OSSL_PARAM_BLD_to_param(bld)) &&
            (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1 && (bio = BIO_new(BIO_s_mem())) &&
            PEM_write_bio_PUBKEY(bio, pkey) == 1;
  if (ok) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  if (!ok) return Status::BadRequest("RSA JWK could not be read");
  return pem;
}

struct ConsumerVerifier::Credential {
  std::string consumer;
  JwtCredential spec;
  std::unique_ptr<auth::Jwt> jwt;  // a static key
  // JWKS, guarded by jwks_mu_
  std::map<std::string, std::shared_ptr<auth::Jwt>> by_kid;
  Clock::time_point next_fetch{};
  Clock::time_point last_fetch{};
};

ConsumerVerifier::ConsumerVerifier(const std::vector<ConsumerSpec>& consumers) {
  for (const auto& c : consumers) {
    for (const auto& cred : c.jwt) {
      auto entry = std::make_unique<Credential>();
      entry->consumer = c.name;
      entry->spec = cred;
      if (cred.jwks_url.empty()) {
        auth::JwtKeys keys{cred.algorithm, cred.secret, "", cred.public_key};
        auto jwt = auth::Jwt::Create(keys, cred.key);
        if (!jwt.ok()) continue;  // validated on the way in; a stored one gone bad is skipped
        entry->jwt = std::move(*jwt);
      }
      // Two consumers cannot share an issuer key: the first (by name) keeps it.
      by_key_.emplace(cred.key, std::move(entry));
    }
  }
}

ConsumerVerifier::~ConsumerVerifier() = default;

Result<std::string> ConsumerVerifier::Verify(std::string_view token, int64_t now_unix) const {
  auto payload = Segment(token, 1);
  if (!payload) return Status::Unauthenticated("malformed token");
  auto iss = payload->find("iss");
  if (iss == payload->end() || !iss->is_string()) return Status::Unauthenticated("token has no iss naming a consumer credential");
  auto it = by_key_.find(iss->get<std::string>());
  if (it == by_key_.end()) return Status::Unauthenticated("no consumer credential for this token's iss");
  const Credential& cred = *it->second;
  std::shared_ptr<auth::Jwt> from_jwks;
  const auth::Jwt* jwt = cred.jwt.get();
  if (!jwt) {
    auto header = Segment(token, 0);
    std::string kid = header && header->contains("kid") && (*header)["kid"].is_string() ? (*header)["kid"].get<std::string>() : "";
    std::lock_guard lock(jwks_mu_);
    auto k = cred.by_kid.find(kid);
    if (k == cred.by_kid.end()) {
      // The identity provider may have rotated its keys: fetch the set again soon, at most
      // every 5 s however many unknown kids arrive.
      Credential& mut = *it->second;
      mut.next_fetch = std::min(mut.next_fetch, std::max(Clock::now(), mut.last_fetch + kJwksUnknownKid));
      return Status::Unauthenticated("no key with this token's kid in the consumer's JWKS");
    }
    from_jwks = k->second;
    jwt = from_jwks.get();
  }
  AIMASS_ASSIGN_OR_RETURN(Json claims, jwt->Verify(token, now_unix));
  const int64_t exp = claims.value("exp", int64_t{0});
  if (!cred.spec.audiences.empty()) {
    auto aud = claims.find("aud");
    bool ok = false;
    auto accepted = [&](const Json& a) {
      return a.is_string() && std::find(cred.spec.audiences.begin(), cred.spec.audiences.end(), a.get<std::string>()) !=
                                  cred.spec.audiences.end();
    };
    if (aud != claims.end()) {
      if (aud->is_array()) {
        for (const auto& a : *aud) ok |= accepted(a);
      } else {
        ok = accepted(*aud);
      }
    }
    if (!ok) return Status::Unauthenticated("token audience is not accepted");
  }
  {
    std::lock_guard lock(verified_mu_);
    if (verified_.size() >= 10000) verified_.clear();
    verified_.emplace(std::string(token), std::make_pair(cred.consumer, exp));
  }
  return cred.consumer;
}

std::optional<std::string> ConsumerVerifier::Cached(std::string_view token, int64_t now_unix) const {
  std::lock_guard lock(verified_mu_);
  auto it = verified_.find(std::string(token));
  if (it == verified_.end()) return std::nullopt;
  if (it->second.second <= now_unix) {
    verified_.erase(it);
    return std::nullopt;
  }
  return it->second.first;
}

std::vector<std::string> ConsumerVerifier::JwksDue(Clock::time_point now) const {
  std::lock_guard lock(jwks_mu_);
  std::vector<std::string> due;
  for (const auto& [_, c] : by_key_) {
    if (!c->spec.jwks_url.empty() && c->next_fetch <= now) due.push_back(c->spec.jwks_url);
  }
  return due;
}

void ConsumerVerifier::SetJwks(const std::string& url, const Result<std::string>& document, Clock::time_point now) {
  // The document's signing keys as PEM, by kid; keys for other uses or algorithms are skipped.
  std::vector<std::pair<std::string, std::string>> pems;
  bool ok = document.ok();
  if (ok) {
    Json doc = Json::parse(*document, nullptr, false);
    ok = doc.is_object() && doc.contains("keys") && doc["keys"].is_array();
    if (ok) {
      for (const auto& k : doc["keys"]) {
        if (!k.is_object() || !k.contains("kid") || !k["kid"].is_string()) continue;
        if (k.contains("use") && k["use"] != "sig") continue;
        if (k.contains("alg") && k["alg"] != "RS256") continue;
        if (auto pem = JwkToPem(k); pem.ok()) pems.emplace_back(k["kid"].get<std::string>(), std::move(*pem));
      }
    }
  }
  std::lock_guard lock(jwks_mu_);
  for (auto& [_, c] : by_key_) {
    if (c->spec.jwks_url != url) continue;
    if (!ok) {
      c->next_fetch = now + kJwksRetry;  // keep the keys we had
      continue;
    }
    std::map<std::string, std::shared_ptr<auth::Jwt>> mine;
    for (const auto& [kid, pem] : pems) {
      // Each credential checks its own issuer, so each gets its own verifier for the key.
      auto jwt = auth::Jwt::Create(auth::JwtKeys{"RS256", "", "", pem}, c->spec.key);
      if (jwt.ok()) mine[kid] = std::shared_ptr<auth::Jwt>(std::move(*jwt));
    }
    c->by_kid = std::move(mine);
    c->last_fetch = now;
    c->next_fetch = now + kJwksRefresh;
  }
  if (ok) {
    // A key gone from the set no longer vouches for the tokens it signed.
    std::lock_guard verified(verified_mu_);
    verified_.clear();
  }
}

}  // namespace aimass::gateway
