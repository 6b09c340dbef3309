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
  size_t at = out.size();
  out.resize(at + 2 * bytes);
  char* p = out.data() + at;
  while (bytes > 0) {
    // Sixteen digits from one random word, eight bytes at once (a table lookup per byte
    // still cost ~7 instructions a byte in the gateway's profile): the word's low nibbles
    // make one eight-digit half, its high nibbles the other. Which digit comes from which
    // bits does not matter for random bits, only that all of them are used.
    constexpr uint64_t kNibbles = 0x0f0f0f0f0f0f0f0full, kOnes = 0x0101010101010101ull;
    uint64_t v = gen.Next();
    char digits[16];
    for (int half = 0; half < 2; ++half) {
      uint64_t x = (half == 0 ? v : v >> 4) & kNibbles;
      // Each byte is 0..15: '0' + x, plus 39 more ('a' - '9' - 1) where x > 9.
      uint64_t letter = ((x + 6 * kOnes) >> 4) & kOnes;
      uint64_t ascii = x + '0' * kOnes + 39 * letter;
      std::memcpy(digits + 8 * half, &ascii, 8);
    }
    size_t n = bytes < 8 ? bytes : 8;
    if (n == 8) {
      std::memcpy(p, digits, 16);  // a constant size is two moves, not a call
    } else {
      std::memcpy(p, digits, 2 * n);
    }
    p += 2 * n;
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
