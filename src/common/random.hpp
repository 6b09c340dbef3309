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
// Appends 2 * bytes lower-case hex digits for ids that must be unique but need not be secret
// (request, trace and span ids, one or more per request): a per-thread xoshiro256** generator
// seeded from the CSPRNG, about ten times cheaper per id than the CSPRNG or std::mt19937_64.
void AppendUniqueHex(std::string& out, size_t bytes);

}  // namespace aimass
