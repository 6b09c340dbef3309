// A bot's voice channel. What the recogniser listens for is built from the bot's own examples
// (each entity mention standing for any value of that entity): a trigram language model of
// them, and for a small bot a grammar of the sentences too, so a bot hears its customers in the
// words its NLU was trained on; one decoder per bot version, made at the first audio message.
// Replies are spoken by espeak-ng in the bot's language.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "assist/bot.hpp"
#include "common/status.hpp"
#include "speech/grammar.hpp"
#include "speech/recognizer.hpp"

namespace aimass::assist {

struct VoiceOptions {
  // Debian's pocketsphinx-en-us.
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us/en-us";
  std::string dictionary = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";
  double max_seconds = 60;  // longer audio is refused
  size_t max_grammar_sentences = 1000;  // a bot with more examples is heard by its language model only
};

// The sentences and entity values a bot's grammar is made of.
Result<speech::GrammarInput> GrammarOf(const BotSpec& bot);

class VoiceChannel {
 public:
  explicit VoiceChannel(VoiceOptions options = {}) : options_(std::move(options)) {}

  // The words in `wav` (a WAV file of any rate and channels; heard at 16 kHz mono) as bot
  // version `version` of `bot` expects them. English bots only: the one acoustic model Debian
  // ships is US English.
  Result<speech::Transcript> Hear(const BotSpec& bot, int64_t version, std::string_view wav);

  // `text` spoken in the bot's language, as a WAV file.
  static Result<std::string> Say(const std::string& text, const std::string& language);

 private:
  Result<std::shared_ptr<speech::Recognizer>> RecognizerFor(const BotSpec& bot, int64_t version);

  VoiceOptions options_;
  std::mutex mu_;
  std::shared_ptr<const speech::PronunciationDictionary> dictionary_;  // loaded at first use
  struct Cached {
    int64_t version = 0;
    uint64_t made = 0;  // order of making
    std::shared_ptr<speech::Recognizer> recognizer;
  };
  std::map<std::string, Cached> recognizers_;  // by bot
  uint64_t made_ = 0;
};

}  // namespace aimass::assist
