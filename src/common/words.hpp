// Text as the platform's fastText models read it, in training (train.fasttext) and in serving
// alike: ASCII letters lower-cased, ASCII punctuation and white space as single spaces, none at
// either end. Bytes beyond ASCII (UTF-8) are kept as they are.
#pragma once

#include <string>
#include <string_view>

namespace aimass {

std::string NormalizeWords(std::string_view text);

}  // namespace aimass
