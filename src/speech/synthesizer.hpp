// Speech from text with espeak-ng. The library keeps one voice for the whole process, so
// calls take turns.
#pragma once

#include <string_view>

#include "common/status.hpp"
#include "speech/wav.hpp"

namespace aimass::speech {

// `language`: a bot's language ("en", "zh") or an espeak-ng voice name ("en-gb"). The audio
// is 16-bit mono at espeak-ng's rate (22,050 Hz).
Result<Audio> Speak(std::string_view text, std::string_view language);

}  // namespace aimass::speech
