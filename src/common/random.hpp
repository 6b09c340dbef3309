// Random text from OpenSSL's CSPRNG, which stays safe across fork() (a per-thread PRNG copied
// into a child would repeat the parent's names).
#pragma once

#include <cstddef>
#include <string>

namespace aimass {

// `bytes` random bytes as URL-safe characters [A-Za-z0-9_-], one character per byte.
std::string RandomToken(size_t bytes);
// `bytes` random bytes as lower-case hex (trace and span ids).
std::string RandomHex(size_t bytes);

}  // namespace aimass
