#include "speech/recognizer.hpp"

#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace aimass::speech {

struct Recognizer::Decoder {
  ps_decoder_t* ps = nullptr;
  ~Decoder() {
    if (ps) ps_free(ps);
  }
};

Recognizer::Recognizer(std::unique_ptr<Decoder> d) : decoder_(std::move(d)) {}
Recognizer::~Recognizer() = default;

Result<std::unique_ptr<Recognizer>> Recognizer::Create(const std::string& model_dir, const std::string& dictionary,
                                                       const std::string& jsgf) {
  // Sphinx logs every step of loading to stderr; its errors come back as return values here.
  static std::once_flag quiet;
  std::call_once(quiet, [] { err_set_logfp(nullptr); });
  if (access((model_dir + "/mdef").c_str(), R_OK) != 0) {
    return Status::Unavailable("no acoustic model at " + model_dir + " (Debian package pocketsphinx-en-us)");
  }
  // The decoder reads its dictionary from a file: a private one, gone once it is read.
  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/aimass-dict-XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd < 0) return Status::Internal("cannot make a temporary dictionary file");
  close(fd);
  {
    std::ofstream out(path, std::ios::trunc);
    out << dictionary;
    if (!out.flush()) {
      unlink(path.c_str());
      return Status::Internal("cannot write the temporary dictionary file");
    }
  }
  // -remove_noise no: synthetic and close-talk speech has no noise floor to estimate, and the
  // noise filter then eats the start of the words.
  cmd_ln_t* config = cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", model_dir.c_str(), "-dict", path.c_str(),
                                 "-remove_noise", "no", "-samprate", "16000", nullptr);
  auto d = std::make_unique<Decoder>();
  if (config) d->ps = ps_init(config);
  if (config) cmd_ln_free_r(config);
  unlink(path.c_str());
  if (!d->ps) return Status::Internal("PocketSphinx could not start with the model at " + model_dir);
  if (ps_set_jsgf_string(d->ps, "bot", jsgf.c_str()) != 0 || ps_set_search(d->ps, "bot") != 0) {
    return Status::Internal("PocketSphinx rejected the grammar");
  }
  return std::unique_ptr<Recognizer>(new Recognizer(std::move(d)));
}

Result<Transcript> Recognizer::Recognize(const std::vector<int16_t>& samples) {
  std::lock_guard lock(mu_);
  ps_decoder_t* ps = decoder_->ps;
  if (ps_start_utt(ps) < 0) return Status::Internal("PocketSphinx could not start an utterance");
  // In blocks, as audio comes from a microphone: the decoder then normalises the features with
  // a running mean (live CMN) instead of the whole utterance's, which silence around short
  // words skews (whole-utterance mode heard espeak-ng's "hello" as "no").
  constexpr size_t kBlock = 2048;
  for (size_t at = 0; at < samples.size(); at += kBlock) {
    if (ps_process_raw(ps, samples.data() + at, std::min(kBlock, samples.size() - at), FALSE, FALSE) < 0) {
      ps_end_utt(ps);
      return Status::Internal("PocketSphinx could not decode the audio");
    }
  }
  if (ps_end_utt(ps) < 0) return Status::Internal("PocketSphinx could not end the utterance");
  Transcript t;
  int32 score = 0;
  if (const char* hyp = ps_get_hyp(ps, &score); hyp) t.text = hyp;
  return t;
}

}  // namespace aimass::speech
