// Speech to text with PocketSphinx (CMU Sphinx), listening for one grammar. A decoder holds
// its acoustic model and grammar; one utterance is decoded at a time.
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
};

class Recognizer {
 public:
  // `model_dir`: an acoustic model (Debian's pocketsphinx-en-us is
  // /usr/share/pocketsphinx/model/en-us/en-us); `dictionary`: pronunciation lines for every
  // word of `jsgf`.
  static Result<std::unique_ptr<Recognizer>> Create(const std::string& model_dir, const std::string& dictionary,
                                                    const std::string& jsgf);
  ~Recognizer();
  Recognizer(const Recognizer&) = delete;
  Recognizer& operator=(const Recognizer&) = delete;

  // 16 kHz mono samples.
  Result<Transcript> Recognize(const std::vector<int16_t>& samples);

 private:
  struct Decoder;
  explicit Recognizer(std::unique_ptr<Decoder> d);
  std::mutex mu_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace aimass::speech
