#include "auth/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

namespace aimass::auth {

std::string Base64UrlEncode(std::string_view data) {
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i + 1 == data.size()) {
    uint32_t v = uint8_t(data[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (i + 2 == data.size()) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view data) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (data.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : data) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, or two encodings would decode to one token.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

struct Jwt::Keys {
  EVP_PKEY* priv = nullptr;
  EVP_PKEY* pub = nullptr;
  ~Keys() {
    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
  }
};

static EVP_PKEY* ReadKey(const std::string& pem, bool is_private) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return nullptr;
  EVP_PKEY* key = is_private ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                             : PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

Result<std::unique_ptr<Jwt>> Jwt::Create(const JwtKeys& keys, std::string issuer) {
  std::unique_ptr<Jwt> jwt(new Jwt());
  jwt->alg_ = keys.algorithm;
  jwt->issuer_ = std::move(issuer);
  jwt->keys_ = std::make_unique<Keys>();
  if (keys.algorithm == "HS256") {
    if (keys.secret.size() < 32) return Status::BadRequest("HS256 secret must be at least 32 bytes");
    jwt->secret_ = keys.secret;
  } else if (keys.algorithm == "RS256") {
    if (!keys.private_key_pem.empty()) {
      jwt->keys_->priv = ReadKey(keys.private_key_pem, true);
      if (!jwt->keys_->priv) return Status::BadRequest("cannot read the RS256 private key");
    }
    if (keys.public_key_pem.empty()) return Status::BadRequest("RS256 needs a public key");
    jwt->keys_->pub = ReadKey(keys.public_key_pem, false);
    if (!jwt->keys_->pub) return Status::BadRequest("cannot read the RS256 public key");
    if (EVP_PKEY_base_id(jwt->keys_->pub) != EVP_PKEY_RSA) {
      return Status::BadRequest("RS256 needs an RSA key");
    }
  } else {
    return Status::BadRequest("unsupported JWT algorithm '" + keys.algorithm + "'");
  }
  return jwt;
}

Jwt::~Jwt() = default;

static std::string HmacSha256(const std::string& key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

Result<std::string> Jwt::Sign(const nlohmann::json& claims) const {
  nlohmann::json header = {{"alg", alg_}, {"typ", "JWT"}};
  nlohmann::json payload = claims;
  if (!issuer_.empty() && !payload.contains("iss")) payload["iss"] = issuer_;
  std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload.dump());
  std::string sig;
  if (alg_ == "HS256") {
    sig = HmacSha256(secret_, input);
  } else {
    if (!keys_->priv) return Status::Unavailable("this node has no private key to issue tokens with");
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, keys_->priv) == 1 &&
              EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
    if (ok) {
      sig.resize(len);
      ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
      sig.resize(len);
    }
    EVP_MD_CTX_free(ctx);
    if (!ok) return Status::Internal("RS256 signing failed");
  }
  return input + "." + Base64UrlEncode(sig);
}

Result<nlohmann::json> Jwt::Verify(std::string_view token, int64_t now) const {
  const Status invalid = Status::Unauthenticated("invalid token");
  if (token.size() > 8192) return invalid;
  size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return invalid;
  size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return invalid;
  }
  auto header_raw = Base64UrlDecode(token.substr(0, d1));
  auto payload_raw = Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = Base64UrlDecode(token.substr(d2 + 1));
  if (!header_raw || !payload_raw || !sig) return invalid;

  auto header = nlohmann::json::parse(*header_raw, nullptr, false);
  if (!header.is_object()) return invalid;
  auto alg = header.find("alg");
  // The pin: only the configured algorithm, compared exactly.
  if (alg == header.end() || !alg->is_string() || alg->get<std::string>() != alg_) {
    return Status::Unauthenticated("token algorithm not accepted");
  }
  if (header.contains("crit")) return invalid;  // no extensions are understood

  std::string_view input = token.substr(0, d2);
  if (alg_ == "HS256") {
    std::string expected = HmacSha256(secret_, input);
    if (sig->size() != expected.size() ||
        CRYPTO_memcmp(sig->data(), expected.data(), expected.size()) != 0) {
      return invalid;
    }
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, keys_->pub) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                               reinterpret_cast<const unsigned char*>(input.data()),
                               input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return invalid;
  }

  auto claims = nlohmann::json::parse(*payload_raw, nullptr, false);
  if (!claims.is_object()) return invalid;
  auto exp = claims.find("exp");
  if (exp == claims.end() || !exp->is_number()) return Status::Unauthenticated("token has no exp");
  if (exp->get<double>() <= static_cast<double>(now)) return Status::Unauthenticated("token expired");
  if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
    if (!nbf->is_number() || nbf->get<double>() > static_cast<double>(now)) {
      return Status::Unauthenticated("token not yet valid");
    }
  }
  if (!issuer_.empty()) {
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || iss->get<std::string>() != issuer_) {
      return Status::Unauthenticated("token issuer not accepted");
    }
  }
  return claims;
}

}  // namespace aimass::auth
