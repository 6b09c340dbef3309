// Speech to text with PocketSphinx (CMU Sphinx) for one bot: a grammar of its example
// sentences (for a bot small enough) hears them exactly, and the nearest one for a phrasing
// close to them; a trigram language model of the examples hears any phrasing in their words.
// A decoder holds its acoustic model and both searches; one utterance is decoded at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.hpp"

namespace aimass::speech {

// No confidence comes with it: over a grammar the decoder's posterior is 1 for whatever path
// it found (and 0 when none), so the NLU's confidence in the words is the one to go by.
struct Transcript {
  std::string text;  // words, lower case; empty when nothing was recognised
  std::string search;  // "grammar" or "language_model": whose words these are
};

class Recognizer {
 public:
  // `model_dir`: an acoustic model (Debian's pocketsphinx-en-us is
  // /usr/share/pocketsphinx/model/en-us/en-us); `dictionary`: pronunciation lines for every
  // word of `arpa` (a language model) and `jsgf` (a grammar, or empty for none).
  static Result<std::unique_ptr<Recognizer>> Create(const std::string& model_dir, const std::string& dictionary,
                                                    const std::string& arpa, const std::string& jsgf = "");
  ~Recognizer();
  Recognizer(const Recognizer&) = delete;
  Recognizer& operator=(const Recognizer&) = delete;

  // 16 kHz mono samples. With a grammar: its sentence (the one the audio fits best), or the
  // language model's words when no sentence fits at all.
  Result<Transcript> Recognize(const std::vector<int16_t>& samples);

 private:
  struct Decoder;
  explicit Recognizer(std::unique_ptr<Decoder> d);
  Result<std::string> Decode(const char* search, const std::vector<int16_t>& samples);
  // A first pass over the message from the decoder's starting mean; Restore() sets the mean
  // that pass ended with, for the passes that count.
  void Adapt(const std::vector<int16_t>& samples);
  void Restore();
  std::mutex mu_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace aimass::speech
