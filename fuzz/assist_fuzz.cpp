// libFuzzer target for what the assist module reads from the network and from users' files: bot
// definitions (JSON through ParseBot, which also reads the NLU part and compiles regexes), the
// entity marks of examples, a customer's text through the entity rules, and the binary parts of
// an NLU model file (feature space, linear weights, entity tagger; fastText's own bytes are
// Debian's libfasttext's to parse), the WAV files of spoken messages (read, then resampled as the
// recogniser hears them) and the spoken form of example words. The first byte picks the parser. Parsers must return a
// status, never crash; spans must lie inside their text.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "assist/bot.hpp"
#include "speech/grammar.hpp"
#include "speech/wav.hpp"
#include "text/annotated_text.hpp"
#include "text/entity_rules.hpp"
#include "text/entity_tagger.hpp"
#include "text/linear_model.hpp"
#include "text/nlu_model.hpp"
#include "text/text_features.hpp"

namespace {

const aimass::text::EntityRules& Rules() {
  static aimass::text::EntityRules rules = aimass::text::EntityRules::Build(
      {{"city", {{"New York", {"NYC", "the big apple"}}, {"北京", {}}}, ""}, {"time", {}, "at (\\d{1,2}(:\\d\\d)?)"}}).value();
  return rules;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0: {
      nlohmann::json j = nlohmann::json::parse(input, nullptr, false);
      if (!j.is_discarded()) (void)aimass::assist::ParseBot(j);
      break;
    }
    case 1: {
      auto a = aimass::text::ParseAnnotated(input);
      if (a.ok()) {
        for (const auto& s : a->spans) {
          if (s.begin >= s.end || s.end > a->text.size()) std::abort();
        }
      }
      break;
    }
    case 2:
      for (const auto& s : Rules().Extract(input)) {
        if (s.begin >= s.end || s.end > input.size()) std::abort();
      }
      break;
    case 3:
      (void)aimass::text::FeatureSpace::Load(input);
      break;
    case 4:
      (void)aimass::text::LinearModel::Load(input);
      break;
    case 5:
      (void)aimass::text::EntityTagger::Load(input);
      // A whole model file whose kind is linear: the header and every section checked.
      if (input.find("fasttext") == std::string::npos && input.find("ensemble") == std::string::npos) {
        (void)aimass::text::NluModel::Load(input);
      }
      break;
    case 6: {
      auto a = aimass::speech::ReadWav(input);
      if (a.ok() && a->seconds() < 30) {
        const auto r = aimass::speech::Resample(*a, 16000);
        if (std::abs(r.seconds() - a->seconds()) > 0.01) std::abort();
      }
      break;
    }
    case 7:
      for (const auto& w : aimass::speech::SpokenWords(input)) {
        if (w.empty()) std::abort();
      }
      break;
  }
  return 0;
}
