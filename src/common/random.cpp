#include "common/random.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstring>
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

namespace {

// xoshiro256** (Blackman and Vigna): small state, good statistical quality, no secrecy.
class Xoshiro256 {
 public:
  Xoshiro256() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s_.data()), sizeof s_) != 1) {
      throw std::runtime_error("RAND_bytes failed");
    }
    if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the one state it must not have
  }
  uint64_t Next() {
    uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

}  // namespace

void AppendUniqueHex(std::string& out, size_t bytes) {
  thread_local Xoshiro256 gen;
  // Two digits per byte from one table: a digit at a time cost ~28 instructions a byte.
  static constexpr auto kPairs = [] {
    std::array<char, 512> t{};
    constexpr char kHex[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      t[2 * b] = kHex[b >> 4];
      t[2 * b + 1] = kHex[b & 15];
    }
    return t;
  }();
  size_t at = out.size();
  out.resize(at + 2 * bytes);
  char* p = out.data() + at;
  while (bytes > 0) {
    uint64_t v = gen.Next();
    size_t n = bytes < 8 ? bytes : 8;
    for (size_t j = 0; j < n; ++j, v >>= 8, p += 2) std::memcpy(p, &kPairs[2 * (v & 0xff)], 2);
    bytes -= n;
  }
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
