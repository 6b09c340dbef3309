// Helpers shared by the unit tests. The expected digest is computed here with OpenSSL's
// one-shot EVP_Digest, independently of the code under test (common/sha256).
#pragma once

#include <openssl/evp.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
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

// A file of ../shared/data: beside the checkout, or above it (a CI clone elsewhere), or the
// workplace's. Needs AIMASS_SOURCE_DIR (every unit test binary has it).
inline std::string SharedData(const std::string& relative) {
  std::string path;
  for (std::string dir = AIMASS_SOURCE_DIR; path.empty(); dir = dir.substr(0, dir.rfind('/'))) {
    std::string candidate = (dir.empty() ? "/work" : dir + "/..") + "/shared/data/" + relative;
    if (std::ifstream(candidate) || dir.empty()) path = candidate;
  }
  return path;
}

// A fresh directory under the system's temporary one, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "aimass-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace aimass::testing
