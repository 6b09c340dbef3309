#include "speech/synthesizer.hpp"

#include <espeak-ng/speak_lib.h>

#include <mutex>
#include <string>

namespace aimass::speech {
namespace {

std::mutex mu;
int rate = 0;  // 0 until initialised; -1 when it failed

// espeak-ng hands the samples over in pieces; the Audio being made rides in user_data.
int Collect(short* wav, int n, espeak_EVENT* events) {
  if (wav && n > 0 && events && events->user_data) {
    auto& samples = static_cast<Audio*>(events->user_data)->samples;
    samples.insert(samples.end(), wav, wav + n);
  }
  return 0;  // go on
}

std::string VoiceFor(std::string_view language) {
  if (language == "en") return "en-us";
  if (language == "zh") return "cmn";
  return std::string(language);
}

}  // namespace

Result<Audio> Speak(std::string_view text, std::string_view language) {
  std::lock_guard lock(mu);
  if (rate == 0) {
    rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
    if (rate <= 0) rate = -1;
    else espeak_SetSynthCallback(Collect);
  }
  if (rate < 0) return Status::Unavailable("espeak-ng could not start (its data: Debian package espeak-ng-data)");
  const std::string voice = VoiceFor(language);
  if (espeak_SetVoiceByName(voice.c_str()) != EE_OK) return Status::BadRequest("espeak-ng has no voice " + voice);
  Audio out;
  out.sample_rate = rate;
  const std::string t(text);
  if (espeak_Synth(t.c_str(), t.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, &out) != EE_OK) {
    return Status::Internal("espeak-ng could not speak the text");
  }
  return out;
}

}  // namespace aimass::speech
