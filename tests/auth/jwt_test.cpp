#include "auth/jwt.hpp"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <ctime>
#include <random>
#include <string>

namespace aimass::auth {
namespace {

using nlohmann::json;

const std::string kSecret = "0123456789abcdef0123456789abcdef-unit-test";  // >= 32 bytes
constexpr int64_t kNow = 1'700'000'000;

std::unique_ptr<Jwt> MakeHs(const std::string& secret = kSecret, const std::string& iss = "aimass") {
  auto jwt = Jwt::Create({"HS256", secret, "", ""}, iss);
  EXPECT_TRUE(jwt.ok()) << jwt.status().ToString();
  return jwt.ok() ? std::move(jwt).value() : nullptr;
}

json Claims(int64_t exp = kNow + 600) {
  return json{{"sub", "alice"}, {"uid", 7}, {"iat", kNow}, {"exp", exp}, {"jti", "j1"}};
}

std::string HmacSha256(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

// A token built by hand: header and payload as given, HMAC-signed with `key` (or unsigned).
std::string Craft(const json& header, const json& payload, const std::optional<std::string>& key) {
  std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload.dump());
  std::string sig = key ? Base64UrlEncode(HmacSha256(*key, input)) : "";
  return input + "." + sig;
}

struct RsaPem {
  std::string private_pem;
  std::string public_pem;
};

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

RsaPem GenerateRsa() {
  RsaPem out;
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  EXPECT_NE(key, nullptr);
  if (!key) return out;
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  EXPECT_EQ(PEM_write_bio_PUBKEY(pub, key), 1);
  out.private_pem = BioToString(priv);
  out.public_pem = BioToString(pub);
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(key);
  return out;
}

// RSA key generation takes a while; share two key pairs across the suite.
const RsaPem& KeyA() {
  static const RsaPem k = GenerateRsa();
  return k;
}
const RsaPem& KeyB() {
  static const RsaPem k = GenerateRsa();
  return k;
}

void ExpectRejected(const Result<json>& r, const std::string& why) {
  EXPECT_FALSE(r.ok()) << why << ": accepted";
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << why << ": " << r.status().ToString();
}

TEST(JwtTest, Hs256RoundTrip) {
  auto jwt = MakeHs();
  ASSERT_NE(jwt, nullptr);
  EXPECT_EQ(jwt->algorithm(), "HS256");
  auto token = jwt->Sign(Claims());
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  // header.payload.signature, with the pinned alg in the header and the issuer added.
  size_t d1 = token->find('.');
  size_t d2 = token->find('.', d1 + 1);
  ASSERT_NE(d2, std::string::npos);
  auto header = json::parse(Base64UrlDecode(token->substr(0, d1)).value());
  EXPECT_EQ(header["alg"], "HS256");

  auto claims = jwt->Verify(*token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ((*claims)["sub"], "alice");
  EXPECT_EQ((*claims)["uid"], 7);
  EXPECT_EQ((*claims)["jti"], "j1");
  EXPECT_EQ((*claims)["iss"], "aimass");

  // Another instance with the same secret verifies it too.
  auto other = MakeHs();
  EXPECT_TRUE(other->Verify(*token, kNow).ok());
}

TEST(JwtTest, ExpiredTokenRejected) {
  auto jwt = MakeHs();
  auto token = jwt->Sign(Claims(kNow + 10));
  ASSERT_TRUE(token.ok());
  EXPECT_TRUE(jwt->Verify(*token, kNow + 9).ok());
  ExpectRejected(jwt->Verify(*token, kNow + 10), "exp == now");
  ExpectRejected(jwt->Verify(*token, kNow + 11), "exp < now");
}

TEST(JwtTest, MissingOrNonNumericExpRejected) {
  auto jwt = MakeHs();
  json no_exp = Claims();
  no_exp.erase("exp");
  auto t1 = jwt->Sign(no_exp);
  ASSERT_TRUE(t1.ok());
  ExpectRejected(jwt->Verify(*t1, kNow), "no exp");

  json str_exp = Claims();
  str_exp["exp"] = std::to_string(kNow + 600);
  auto t2 = jwt->Sign(str_exp);
  ASSERT_TRUE(t2.ok());
  ExpectRejected(jwt->Verify(*t2, kNow), "string exp");
}

TEST(JwtTest, WrongKeyRejected) {
  auto signer = MakeHs("another-secret-that-is-long-enough-32b");
  auto verifier = MakeHs();
  auto token = signer->Sign(Claims());
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(signer->Verify(*token, kNow).ok());
  ExpectRejected(verifier->Verify(*token, kNow), "other secret");
}

TEST(JwtTest, AlgNoneRejected) {
  auto jwt = MakeHs();
  json payload = Claims();
  payload["iss"] = "aimass";
  for (const char* alg : {"none", "None", "NONE"}) {
    SCOPED_TRACE(alg);
    std::string unsigned_token = Craft({{"alg", alg}, {"typ", "JWT"}}, payload, std::nullopt);
    ExpectRejected(jwt->Verify(unsigned_token, kNow), "alg none, empty signature");
    // Even with a valid HMAC attached, only the configured alg string is accepted.
    std::string signed_token = Craft({{"alg", alg}, {"typ", "JWT"}}, payload, kSecret);
    ExpectRejected(jwt->Verify(signed_token, kNow), "alg none, HMAC signature");
  }
  // The same crafted token with the right alg passes: the header is what is rejected above.
  EXPECT_TRUE(jwt->Verify(Craft({{"alg", "HS256"}, {"typ", "JWT"}}, payload, kSecret), kNow).ok());
  // A header without alg, or with a non-string one.
  ExpectRejected(jwt->Verify(Craft({{"typ", "JWT"}}, payload, kSecret), kNow), "no alg");
  ExpectRejected(jwt->Verify(Craft({{"alg", 1}}, payload, kSecret), kNow), "numeric alg");
}

TEST(JwtTest, CritHeaderRejected) {
  auto jwt = MakeHs();
  json payload = Claims();
  payload["iss"] = "aimass";
  ExpectRejected(
      jwt->Verify(Craft({{"alg", "HS256"}, {"crit", json::array({"x"})}, {"x", 1}}, payload, kSecret),
                  kNow),
      "crit");
}

TEST(JwtTest, TamperedTokenRejected) {
  auto jwt = MakeHs();
  auto token = jwt->Sign(Claims());
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(jwt->Verify(*token, kNow).ok());
  size_t d1 = token->find('.');
  size_t d2 = token->find('.', d1 + 1);

  // Swap the payload for one that claims more, keeping header and signature.
  json evil = json::parse(Base64UrlDecode(token->substr(d1 + 1, d2 - d1 - 1)).value());
  evil["sub"] = "admin";
  evil["roles"] = json::array({"admin"});
  std::string tampered = token->substr(0, d1 + 1) + Base64UrlEncode(evil.dump()) + token->substr(d2);
  ExpectRejected(jwt->Verify(tampered, kNow), "payload swapped");

  // Flip one signature character.
  std::string bad_sig = *token;
  bad_sig[d2 + 1] = bad_sig[d2 + 1] == 'A' ? 'B' : 'A';
  ExpectRejected(jwt->Verify(bad_sig, kNow), "signature changed");

  // Truncated signature, missing or extra parts, garbage.
  ExpectRejected(jwt->Verify(token->substr(0, token->size() - 4), kNow), "signature truncated");
  ExpectRejected(jwt->Verify(token->substr(0, d2), kNow), "two parts");
  ExpectRejected(jwt->Verify(*token + ".x", kNow), "four parts");
  ExpectRejected(jwt->Verify("", kNow), "empty");
  ExpectRejected(jwt->Verify("a.b.c", kNow), "garbage");
  ExpectRejected(jwt->Verify(std::string(9000, 'a'), kNow), "oversized");
}

TEST(JwtTest, RS256RoundTripAndVerifyOnlyNodes) {
  const RsaPem& a = KeyA();
  ASSERT_FALSE(a.private_pem.empty());
  ASSERT_NE(a.public_pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  auto signer = Jwt::Create({"RS256", "", a.private_pem, a.public_pem}, "aimass");
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  EXPECT_EQ((*signer)->algorithm(), "RS256");
  auto token = (*signer)->Sign(Claims());
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  auto header = json::parse(Base64UrlDecode(token->substr(0, token->find('.'))).value());
  EXPECT_EQ(header["alg"], "RS256");

  auto claims = (*signer)->Verify(*token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ((*claims)["sub"], "alice");

  // A node with only the public key verifies but cannot sign.
  auto verifier = Jwt::Create({"RS256", "", "", a.public_pem}, "aimass");
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_TRUE((*verifier)->Verify(*token, kNow).ok());
  EXPECT_FALSE((*verifier)->Sign(Claims()).ok());

  // Another key pair's verifier rejects it.
  auto other = Jwt::Create({"RS256", "", "", KeyB().public_pem}, "aimass");
  ASSERT_TRUE(other.ok());
  ExpectRejected((*other)->Verify(*token, kNow), "other RSA key");

  // Tampering is caught by RS256 as well.
  size_t d1 = token->find('.');
  size_t d2 = token->find('.', d1 + 1);
  json evil = Claims();
  evil["sub"] = "admin";
  evil["iss"] = "aimass";
  std::string tampered = token->substr(0, d1 + 1) + Base64UrlEncode(evil.dump()) + token->substr(d2);
  ExpectRejected((*verifier)->Verify(tampered, kNow), "RS256 payload swapped");
}

TEST(JwtTest, AlgorithmSwapWithPublicKeyAsHmacSecretRejected) {
  const RsaPem& a = KeyA();
  auto rs = Jwt::Create({"RS256", "", "", a.public_pem}, "aimass");
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  // The attacker knows the public key and signs HS256 with it as the secret.
  auto attacker = MakeHs(a.public_pem);
  ASSERT_NE(attacker, nullptr);
  auto forged = attacker->Sign(Claims());
  ASSERT_TRUE(forged.ok());
  // The forgery is a well-formed HS256 token for that secret…
  ASSERT_TRUE(attacker->Verify(*forged, kNow).ok());
  // …and the RS256 verifier refuses it on its header.
  auto r = (*rs)->Verify(*forged, kNow);
  ExpectRejected(r, "HS256 token signed with the RSA public key");

  // Hand-crafted variant, in case Sign ever changed the header.
  json payload = Claims();
  payload["iss"] = "aimass";
  ExpectRejected((*rs)->Verify(Craft({{"alg", "HS256"}, {"typ", "JWT"}}, payload, a.public_pem), kNow),
                 "crafted HS256 with public key");
}

TEST(JwtTest, HsVerifierRejectsRs256Token) {
  auto rs = Jwt::Create({"RS256", "", KeyA().private_pem, KeyA().public_pem}, "aimass");
  ASSERT_TRUE(rs.ok());
  auto token = (*rs)->Sign(Claims());
  ASSERT_TRUE(token.ok());
  ExpectRejected(MakeHs()->Verify(*token, kNow), "RS256 token at an HS256 verifier");
}

TEST(JwtTest, WrongOrMissingIssuerRejected) {
  auto verifier = MakeHs(kSecret, "aimass");
  auto other_issuer = MakeHs(kSecret, "someone-else");
  auto token = other_issuer->Sign(Claims());
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(other_issuer->Verify(*token, kNow).ok());
  ExpectRejected(verifier->Verify(*token, kNow), "wrong iss");

  // No iss at all (signed by an instance without an issuer).
  auto no_issuer = MakeHs(kSecret, "");
  auto bare = no_issuer->Sign(Claims());
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(json::parse(Base64UrlDecode(bare->substr(bare->find('.') + 1,
                                                         bare->rfind('.') - bare->find('.') - 1))
                               .value())
                   .contains("iss"));
  ExpectRejected(verifier->Verify(*bare, kNow), "missing iss");

  // Non-string iss.
  json payload = Claims();
  payload["iss"] = 42;
  ExpectRejected(verifier->Verify(Craft({{"alg", "HS256"}}, payload, kSecret), kNow), "numeric iss");
}

TEST(JwtTest, NotBeforeInTheFutureRejected) {
  auto jwt = MakeHs();
  json c = Claims();
  c["nbf"] = kNow + 30;
  auto token = jwt->Sign(c);
  ASSERT_TRUE(token.ok());
  ExpectRejected(jwt->Verify(*token, kNow), "nbf in the future");
  EXPECT_TRUE(jwt->Verify(*token, kNow + 30).ok());  // nbf == now is valid

  json bad = Claims();
  bad["nbf"] = "soon";
  auto t2 = jwt->Sign(bad);
  ASSERT_TRUE(t2.ok());
  ExpectRejected(jwt->Verify(*t2, kNow), "non-numeric nbf");
}

TEST(JwtTest, CreateValidatesKeys) {
  auto short_secret = Jwt::Create({"HS256", std::string(31, 'x'), "", ""}, "aimass");
  EXPECT_FALSE(short_secret.ok());
  EXPECT_EQ(short_secret.status().code(), Code::kBadRequest);
  EXPECT_FALSE(Jwt::Create({"HS256", "", "", ""}, "aimass").ok());
  EXPECT_TRUE(Jwt::Create({"HS256", std::string(32, 'x'), "", ""}, "aimass").ok());

  EXPECT_FALSE(Jwt::Create({"HS512", kSecret, "", ""}, "aimass").ok());
  EXPECT_FALSE(Jwt::Create({"none", kSecret, "", ""}, "aimass").ok());
  EXPECT_FALSE(Jwt::Create({"hs256", kSecret, "", ""}, "aimass").ok());
  EXPECT_FALSE(Jwt::Create({"RS256", "", "", ""}, "aimass").ok());
  EXPECT_FALSE(Jwt::Create({"RS256", "", "", "not a pem"}, "aimass").ok());
  EXPECT_FALSE(Jwt::Create({"RS256", "", "garbage", KeyA().public_pem}, "aimass").ok());
}

TEST(JwtTest, RS256RejectsNonRsaKey) {
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO* pub = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(pub, ec), 1);
  std::string pem = BioToString(pub);
  BIO_free(pub);
  EVP_PKEY_free(ec);
  auto jwt = Jwt::Create({"RS256", "", "", pem}, "aimass");
  EXPECT_FALSE(jwt.ok());
}

TEST(Base64UrlTest, KnownVectors) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  // The URL alphabet: '-' and '_' instead of '+' and '/', no padding.
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(Base64UrlDecode("-_-_"), std::optional<std::string>(std::string("\xfb\xff\xbf", 3)));
  EXPECT_EQ(Base64UrlDecode("Zm9vYmFy"), std::optional<std::string>("foobar"));
}

TEST(Base64UrlTest, RoundTripAllLengths) {
  std::mt19937 rng(1234);
  for (size_t len = 0; len <= 70; ++len) {
    std::string data(len, '\0');
    for (char& c : data) c = static_cast<char>(rng() & 0xff);
    std::string enc = Base64UrlEncode(data);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    EXPECT_EQ(enc.size(), (len * 4 + 2) / 3) << len;
    auto dec = Base64UrlDecode(enc);
    ASSERT_TRUE(dec.has_value()) << "len " << len;
    EXPECT_EQ(*dec, data) << "len " << len;
  }
}

TEST(Base64UrlTest, RejectsMalformedAndNonCanonical) {
  // Leftover bits must be zero: "Zg" is 'f', "Zh".."Zv" would decode to 'f' as well.
  EXPECT_EQ(Base64UrlDecode("Zg"), std::optional<std::string>("f"));
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zv").has_value());
  EXPECT_EQ(Base64UrlDecode("Zm8"), std::optional<std::string>("fo"));
  EXPECT_FALSE(Base64UrlDecode("Zm9").has_value());
  // A length of 4n+1 cannot be valid.
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").has_value());
  // Standard alphabet and padding are not base64url.
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());
  EXPECT_FALSE(Base64UrlDecode("+/+/").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v Zg").has_value());
}

TEST(Base64UrlTest, NonCanonicalSignatureRejectedByVerify) {
  // A signature re-encoded with non-zero trailing bits must not verify: a token has exactly
  // one valid spelling.
  auto jwt = MakeHs();
  auto token = jwt->Sign(Claims());
  ASSERT_TRUE(token.ok());
  // A 32-byte HMAC encodes to 43 characters: the last one carries 2 unused bits.
  std::string sig = token->substr(token->rfind('.') + 1);
  ASSERT_EQ(sig.size(), 43u);
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t v = kAlphabet.find(sig.back());
  ASSERT_EQ(v & 3, 0u);
  std::string alt = token->substr(0, token->size() - 1) + kAlphabet[v | 1];
  ExpectRejected(jwt->Verify(alt, kNow), "non-canonical signature encoding");
}

}  // namespace
}  // namespace aimass::auth
