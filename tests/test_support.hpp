// Helpers shared by the unit tests. The expected digest is computed here with OpenSSL's
// one-shot EVP_Digest, independently of the code under test (common/sha256).
#pragma once

#include <openssl/evp.h>

#include <fstream>
#include <sstream>
#include <string>

namespace aimass::testing {

inline std::string ExpectedSha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace aimass::testing
