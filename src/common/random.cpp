#include "common/random.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace aimass {

namespace {
std::vector<unsigned char> RandomBytes(size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return buf;
}
}  // namespace

std::string RandomHex(size_t bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : RandomBytes(bytes)) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string RandomToken(size_t bytes) {
  std::vector<unsigned char> buf = RandomBytes(bytes);
  static const char* kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve(bytes);
  // 64 divides 256, so taking the low 6 bits keeps every character equally likely.
  for (unsigned char c : buf) out.push_back(kAlphabet[c & 63]);
  return out;
}

}  // namespace aimass
