// Bytes in text formats: UTF-8 validity (JSON strings must be UTF-8), standard base64 (RFC
// 4648, with padding) for bytes that are not, and trimming of header-style values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aimass {

// Length of the valid UTF-8 sequence starting s (whose first byte is >= 0x80), or 0 when it is
// not one (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
size_t Utf8SequenceLength(std::string_view s);
bool IsValidUtf8(std::string_view s);

std::string Base64Encode(std::string_view data);
// "a, b,,c " -> {"a", "b", "c"}: the items of a comma-separated list, trimmed, empty ones dropped.
std::vector<std::string> SplitCommaList(std::string_view list);
// nullopt when `text` is not base64 (wrong length or alphabet, padding inside).
std::optional<std::string> Base64Decode(std::string_view text);

// `s` for a URL: every byte but letters, digits and -._~ (and / when `keep_slashes`, for a
// path of several segments) as %XX (RFC 3986).
std::string PercentEncode(std::string_view s, bool keep_slashes = false);

// `s` with A-Z as a-z and every other byte as it is (names, keywords; no locale).
std::string AsciiLower(std::string_view s);

// `s` without the spaces and tabs at either end (HTTP's optional whitespace, OWS).
std::string_view TrimSpaces(std::string_view s);

}  // namespace aimass
