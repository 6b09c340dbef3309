// WAV files in and out. Reads the PCM forms people send (8, 16, 24 or 32-bit integers, 32-bit
// floats, any rate, any channel count) into 16-bit mono; writes 16-bit mono PCM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace aimass::speech {

// Mono 16-bit samples at a rate.
struct Audio {
  int sample_rate = 16000;
  std::vector<int16_t> samples;

  double seconds() const { return sample_rate ? static_cast<double>(samples.size()) / sample_rate : 0.0; }
};

// A RIFF/WAVE file's audio, channels averaged into one. Errors (BadRequest) name what is wrong:
// not RIFF/WAVE, no fmt or data chunk, a compressed format, an unsupported sample width.
Result<Audio> ReadWav(std::string_view bytes);

// A RIFF/WAVE file of 16-bit mono PCM.
std::string WriteWav(const Audio& audio);

// The same sound at another rate (linear interpolation; enough for speech recognition, which
// reads below 8 kHz).
Audio Resample(const Audio& audio, int to_rate);

}  // namespace aimass::speech
