#include "assist/voice.hpp"

#include <set>

#include "speech/language_model.hpp"
#include "speech/synthesizer.hpp"
#include "speech/wav.hpp"
#include "text/nlu_definition.hpp"
#include "text/nlu_model.hpp"

namespace aimass::assist {
namespace {

constexpr size_t kMaxBots = 32;  // decoders kept; the one made longest ago goes first

}  // namespace

Result<speech::GrammarInput> GrammarOf(const BotSpec& bot) {
  AIMASS_ASSIGN_OR_RETURN(auto read, text::ReadNluDefinition(bot.definition));
  const auto& [spec, examples] = read;
  AIMASS_ASSIGN_OR_RETURN(auto rules, text::EntityRulesFromJson(spec.entities));
  speech::GrammarInput in;
  // A lookup entity stands for its values and synonyms; any other for the mentions the
  // examples have of it.
  std::set<std::string> lookup;
  for (const auto& r : rules) {
    if (r.lookup.empty()) continue;
    lookup.insert(r.name);
    auto& phrases = in.slots[r.name];
    for (const auto& e : r.lookup) {
      phrases.push_back(e.value);
      phrases.insert(phrases.end(), e.synonyms.begin(), e.synonyms.end());
    }
  }
  for (const auto& ex : examples) {
    std::vector<std::string> tokens;
    size_t at = 0;
    auto words = [&](size_t from, size_t to) {
      for (auto& w : speech::SpokenWords(std::string_view(ex.text).substr(from, to - from))) tokens.push_back(std::move(w));
    };
    for (const auto& span : ex.spans) {
      if (span.begin < at || span.end > ex.text.size()) continue;
      words(at, span.begin);
      tokens.push_back("$" + span.entity);
      if (!lookup.count(span.entity)) in.slots[span.entity].push_back(ex.text.substr(span.begin, span.end - span.begin));
      at = span.end;
    }
    words(at, ex.text.size());
    in.sentences.push_back(std::move(tokens));
  }
  // An answer to a form's question is often the value alone ("friday", "four").
  for (const auto& [name, phrases] : in.slots) in.sentences.push_back({"$" + name});
  return in;
}

Result<std::shared_ptr<speech::Recognizer>> VoiceChannel::RecognizerFor(const BotSpec& bot, int64_t version) {
  std::lock_guard lock(mu_);
  auto it = recognizers_.find(bot.name);
  if (it != recognizers_.end() && it->second.version == version) return it->second.recognizer;
  if (!dictionary_) {
    AIMASS_ASSIGN_OR_RETURN(dictionary_, speech::PronunciationDictionary::Load(options_.dictionary));
  }
  AIMASS_ASSIGN_OR_RETURN(speech::GrammarInput input, GrammarOf(bot));
  AIMASS_ASSIGN_OR_RETURN(speech::LanguageModel lm, speech::BuildLanguageModel(input, *dictionary_));
  std::set<std::string> words = lm.words;
  std::string jsgf;
  // A grammar of many sentences decodes slowly (seconds for CLINC150's 5,000) and, for so many,
  // is no closer than the language model; a small bot's is exact.
  if (input.sentences.size() <= options_.max_grammar_sentences) {
    AIMASS_ASSIGN_OR_RETURN(speech::Grammar grammar, speech::BuildGrammar(input, *dictionary_));
    jsgf = std::move(grammar.jsgf);
    words.insert(grammar.words.begin(), grammar.words.end());
  }
  AIMASS_ASSIGN_OR_RETURN(auto r, speech::Recognizer::Create(options_.model_dir, dictionary_->Entries(words), lm.arpa, jsgf));
  std::shared_ptr<speech::Recognizer> shared(std::move(r));
  if (recognizers_.size() >= kMaxBots && it == recognizers_.end()) {
    auto oldest = recognizers_.begin();
    for (auto i = recognizers_.begin(); i != recognizers_.end(); ++i) {
      if (i->second.made < oldest->second.made) oldest = i;
    }
    recognizers_.erase(oldest);
  }
  recognizers_[bot.name] = Cached{version, ++made_, shared};
  return shared;
}

Result<speech::Transcript> VoiceChannel::Hear(const BotSpec& bot, int64_t version, std::string_view wav) {
  if (bot.language != "en") {
    return Status::Unprocessable("bot " + bot.name + " speaks " + bot.language +
                                 "; speech recognition has a US English model only");
  }
  AIMASS_ASSIGN_OR_RETURN(speech::Audio audio, speech::ReadWav(wav));
  if (audio.seconds() > options_.max_seconds) {
    return Status::TooLarge("the audio is " + std::to_string(static_cast<int>(audio.seconds())) + " s long; at most " +
                            std::to_string(static_cast<int>(options_.max_seconds)) + " s");
  }
  AIMASS_ASSIGN_OR_RETURN(auto recognizer, RecognizerFor(bot, version));
  return recognizer->Recognize(speech::Resample(audio, 16000).samples);
}

Result<std::string> VoiceChannel::Say(const std::string& text, const std::string& language) {
  AIMASS_ASSIGN_OR_RETURN(speech::Audio audio, speech::Speak(text, language));
  return speech::WriteWav(audio);
}

}  // namespace aimass::assist
