#include "common/words.hpp"

#include <cstring>

namespace aimass {

std::string NormalizeWords(std::string_view text) {
  static constexpr const char* kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  std::string out;
  out.reserve(text.size());
  bool space = true;  // no space at the start
  for (char c : text) {
    bool blank = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
                 (c != '\0' && std::strchr(kPunctuation, c) != nullptr);
    if (blank) {
      if (!space) out.push_back(' ');
      space = true;
      continue;
    }
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    space = false;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace aimass
