#include "speech/wav.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace aimass::speech {
namespace {

uint32_t U32(const unsigned char* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t U16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}

constexpr uint16_t kPcm = 1, kFloat = 3, kExtensible = 0xfffe;

// One sample of `bits` at p, scaled to [-1, 1).
double Sample(const unsigned char* p, int bits, bool is_float) {
  if (is_float) {
    float f;
    std::memcpy(&f, p, 4);
    return std::isfinite(f) ? std::clamp(static_cast<double>(f), -1.0, 1.0) : 0.0;
  }
  switch (bits) {
    case 8: return (static_cast<int>(p[0]) - 128) / 128.0;  // 8-bit WAV is unsigned
    case 16: return static_cast<int16_t>(U16(p)) / 32768.0;
    case 24: {
      int32_t v = p[0] | (p[1] << 8) | (p[2] << 16);
      if (v & 0x800000) v |= ~0xffffff;
      return v / 8388608.0;
    }
    default: return static_cast<int32_t>(U32(p)) / 2147483648.0;
  }
}

}  // namespace

Result<Audio> ReadWav(std::string_view bytes) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n < 12 || std::memcmp(b, "RIFF", 4) != 0 || std::memcmp(b + 8, "WAVE", 4) != 0) {
    return Status::BadRequest("the audio is not a WAV file (RIFF/WAVE)");
  }
  uint16_t format = 0, channels = 0, bits = 0;
  uint32_t rate = 0;
  const unsigned char* data = nullptr;
  size_t data_size = 0;
  size_t at = 12;
  while (at + 8 <= n) {
    const unsigned char* id = b + at;
    size_t size = U32(b + at + 4);
    at += 8;
    // A streamed file may say 0 or 0xffffffff for its data: whatever follows is the data.
    if (size > n - at) {
      if (std::memcmp(id, "data", 4) != 0) return Status::BadRequest("a WAV chunk runs past the end of the file");
      size = n - at;
    }
    if (std::memcmp(id, "fmt ", 4) == 0) {
      if (size < 16) return Status::BadRequest("the WAV fmt chunk is too short");
      format = U16(b + at);
      channels = U16(b + at + 2);
      rate = U32(b + at + 4);
      bits = U16(b + at + 14);
      if (format == kExtensible) {
        if (size < 26) return Status::BadRequest("the WAV extensible fmt chunk is too short");
        format = U16(b + at + 24);  // the sub-format GUID starts with the format tag
      }
    } else if (std::memcmp(id, "data", 4) == 0) {
      data = b + at;
      data_size = size;
      if (format) break;  // the data chunk is normally last
    }
    at += size + (size & 1);  // chunks are padded to even sizes
  }
  if (!format) return Status::BadRequest("the WAV file has no fmt chunk");
  if (!data) return Status::BadRequest("the WAV file has no data chunk");
  if (format != kPcm && format != kFloat) {
    return Status::BadRequest("the WAV file is compressed (format " + std::to_string(format) + "); send PCM");
  }
  const bool is_float = format == kFloat;
  if ((is_float && bits != 32) || (!is_float && bits != 8 && bits != 16 && bits != 24 && bits != 32)) {
    return Status::BadRequest("WAV samples of " + std::to_string(bits) + " bits are not supported (8, 16, 24, 32)");
  }
  if (channels < 1 || channels > 16) return Status::BadRequest("a WAV file has 1 to 16 channels");
  if (rate < 4000 || rate > 384000) return Status::BadRequest("the WAV sample rate is outside 4 kHz to 384 kHz");
  const size_t frame = static_cast<size_t>(channels) * (bits / 8);
  Audio out;
  out.sample_rate = static_cast<int>(rate);
  const size_t frames = data_size / frame;
  out.samples.reserve(frames);
  for (size_t f = 0; f < frames; ++f) {
    double sum = 0;
    for (int c = 0; c < channels; ++c) sum += Sample(data + f * frame + c * (bits / 8), bits, is_float);
    const double v = std::clamp(sum / channels * 32768.0, -32768.0, 32767.0);
    out.samples.push_back(static_cast<int16_t>(std::lrint(v)));
  }
  return out;
}

std::string WriteWav(const Audio& audio) {
  const uint32_t data = static_cast<uint32_t>(audio.samples.size() * 2);
  std::string out;
  out.reserve(44 + data);
  out += "RIFF";
  PutU32(out, 36 + data);
  out += "WAVEfmt ";
  PutU32(out, 16);
  PutU16(out, kPcm);
  PutU16(out, 1);
  PutU32(out, static_cast<uint32_t>(audio.sample_rate));
  PutU32(out, static_cast<uint32_t>(audio.sample_rate) * 2);
  PutU16(out, 2);
  PutU16(out, 16);
  out += "data";
  PutU32(out, data);
  for (int16_t s : audio.samples) PutU16(out, static_cast<uint16_t>(s));
  return out;
}

Audio Resample(const Audio& audio, int to_rate) {
  if (audio.sample_rate == to_rate || audio.samples.empty()) return Audio{to_rate, audio.samples};
  Audio out;
  out.sample_rate = to_rate;
  const double step = static_cast<double>(audio.sample_rate) / to_rate;
  const size_t in = audio.samples.size();
  const size_t n = static_cast<size_t>(static_cast<double>(in) / step);
  out.samples.reserve(n);
  if (step <= 1.0) {  // up: between neighbours
    for (size_t i = 0; i < n; ++i) {
      const double x = i * step;
      const size_t j = std::min(static_cast<size_t>(x), in - 1);
      const double a = audio.samples[j];
      const double b = j + 1 < in ? audio.samples[j + 1] : a;
      out.samples.push_back(static_cast<int16_t>(std::lrint(a + (b - a) * (x - j))));
    }
    return out;
  }
  // Down: each output sample is the mean of the input samples it stands for, a box filter that
  // keeps most of what lies above the new Nyquist frequency from folding into the speech band.
  std::vector<int64_t> sum(in + 1, 0);
  for (size_t i = 0; i < in; ++i) sum[i + 1] = sum[i] + audio.samples[i];
  for (size_t i = 0; i < n; ++i) {
    const size_t lo = static_cast<size_t>(i * step);
    const size_t hi = std::clamp(static_cast<size_t>((i + 1) * step), lo + 1, in);
    out.samples.push_back(static_cast<int16_t>((sum[hi] - sum[lo]) / static_cast<int64_t>(hi - lo)));
  }
  return out;
}

}  // namespace aimass::speech
