// FNV-1a, 64 bits: a hash that is the same in every process and build, for what is saved or
// shared (feature hashes in model files, a gateway ring's positions). Not for adversarial keys.
#pragma once

#include <cstdint>
#include <string_view>

namespace aimass {

inline constexpr uint64_t kFnv1aOffsetBasis = 1469598103934665603ull;

// `basis` other than the offset basis continues or seeds a hash (distinct seeds keep the hashes
// of one string in different roles apart).
inline uint64_t Fnv1a(std::string_view s, uint64_t basis = kFnv1aOffsetBasis) {
  uint64_t h = basis;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace aimass
