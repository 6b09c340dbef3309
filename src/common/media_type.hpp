// The media type of a file by its extension (image/png, audio/wav, text/plain, …), for the
// files users store (datasets' files, runs' artifacts).
#pragma once

#include <string>
#include <string_view>

namespace aimass {

// application/octet-stream when the extension says nothing.
std::string MediaTypeOf(std::string_view path);

}  // namespace aimass
