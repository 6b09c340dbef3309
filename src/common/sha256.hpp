// SHA-256 over OpenSSL, incremental or one-shot, as lowercase hex: the digest of blobs,
// uploads and API-key secrets.
#pragma once

#include <string>
#include <string_view>

#include "common/status.hpp"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace aimass {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // The digest as 64 hex characters; the hasher is spent afterwards.
  std::string FinishHex();

 private:
  EVP_MD_CTX* ctx_;
};

std::string Sha256Hex(std::string_view data);
// The digest of a file's bytes, read a megabyte at a time; an error when it cannot be read.
Result<std::string> Sha256FileHex(const std::string& path);

}  // namespace aimass
