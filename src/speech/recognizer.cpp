#include "speech/recognizer.hpp"

#include <pocketsphinx.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace aimass::speech {

struct Recognizer::Decoder {
  ps_decoder_t* ps = nullptr;
  bool grammar = false;  // a "grammar" search besides the "language_model" one
  // The live cepstral mean the decoder starts from, set again for each message so that what
  // one message is heard as does not depend on the messages before it; and that mean adapted
  // to the message in hand (Adapt).
  std::vector<char> initial_mean;
  std::vector<char> message_mean;
  ~Decoder() {
    if (ps) ps_free(ps);
  }
};

Recognizer::Recognizer(std::unique_ptr<Decoder> d) : decoder_(std::move(d)) {}
Recognizer::~Recognizer() = default;

namespace {

// A decoder reads its dictionary and language model from files: private ones, gone once read.
class TempFile {
 public:
  static Result<TempFile> Write(const std::string& what, const std::string& data) {
    const char* tmp = std::getenv("TMPDIR");
    TempFile f;
    f.path = std::string(tmp && *tmp ? tmp : "/tmp") + "/aimass-" + what + "-XXXXXX";
    const int fd = mkstemp(f.path.data());
    if (fd < 0) return Status::Internal("cannot make a temporary " + what + " file");
    close(fd);
    std::ofstream out(f.path, std::ios::trunc);
    out << data;
    if (!out.flush()) return Status::Internal("cannot write the temporary " + what + " file");
    return f;
  }
  TempFile() = default;
  TempFile(TempFile&& o) noexcept : path(std::move(o.path)) { o.path.clear(); }
  ~TempFile() {
    if (!path.empty()) unlink(path.c_str());
  }
  std::string path;
};

}  // namespace

Result<std::unique_ptr<Recognizer>> Recognizer::Create(const std::string& model_dir, const std::string& dictionary,
                                                       const std::string& arpa, const std::string& jsgf) {
  // Sphinx logs every step of loading to stderr; its errors come back as return values here.
  static std::once_flag quiet;
  std::call_once(quiet, [] { err_set_logfp(nullptr); });
  if (access((model_dir + "/mdef").c_str(), R_OK) != 0) {
    return Status::Unavailable("no acoustic model at " + model_dir + " (Debian package pocketsphinx-en-us)");
  }
  AIMASS_ASSIGN_OR_RETURN(TempFile dict, TempFile::Write("dict", dictionary));
  AIMASS_ASSIGN_OR_RETURN(TempFile lm, TempFile::Write("lm", arpa));
  // -remove_noise no: synthetic and close-talk speech has no noise floor to estimate, and the
  // noise filter then eats the start of the words.
  cmd_ln_t* config = cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", model_dir.c_str(), "-dict", dict.path.c_str(),
                                 "-remove_noise", "no", "-samprate", "16000", nullptr);
  auto d = std::make_unique<Decoder>();
  if (config) d->ps = ps_init(config);
  if (config) cmd_ln_free_r(config);
  if (!d->ps) return Status::Internal("PocketSphinx could not start with the model at " + model_dir);
  if (ps_set_lm_file(d->ps, "language_model", lm.path.c_str()) != 0) {
    return Status::Internal("PocketSphinx rejected the language model");
  }
  if (feat_t* f = ps_get_feat(d->ps); f && f->cmn_struct) {
    const cmn_t* c = f->cmn_struct;
    const char* mean = reinterpret_cast<const char*>(c->cmn_mean);
    d->initial_mean.assign(mean, mean + c->veclen * sizeof(c->cmn_mean[0]));
  }
  d->grammar = !jsgf.empty();
  if (d->grammar && ps_set_jsgf_string(d->ps, "grammar", jsgf.c_str()) != 0) {
    return Status::Internal("PocketSphinx rejected the grammar");
  }
  return std::unique_ptr<Recognizer>(new Recognizer(std::move(d)));
}

Result<std::string> Recognizer::Decode(const char* search, const std::vector<int16_t>& samples) {
  ps_decoder_t* ps = decoder_->ps;
  if (ps_set_search(ps, search) != 0) return Status::Internal(std::string("PocketSphinx has no search ") + search);
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
  int32 score = 0;
  const char* hyp = ps_get_hyp(ps, &score);
  return std::string(hyp ? hyp : "");
}

void Recognizer::Adapt(const std::vector<int16_t>& samples) {
  feat_t* f = ps_get_feat(decoder_->ps);
  if (!f || !f->cmn_struct || decoder_->initial_mean.empty()) return;
  // The decoder's starting mean, moved by one pass over this message's audio: the message is
  // then decoded as if the decoder had been listening to this speaker, and to no one else.
  cmn_live_set(f->cmn_struct, reinterpret_cast<const mfcc_t*>(decoder_->initial_mean.data()));
  (void)Decode("language_model", samples);
  cmn_live_update(f->cmn_struct);
  std::vector<char> adapted(decoder_->initial_mean.size());
  std::memcpy(adapted.data(), f->cmn_struct->cmn_mean, adapted.size());
  decoder_->message_mean = std::move(adapted);
}

void Recognizer::Restore() {
  feat_t* f = ps_get_feat(decoder_->ps);
  if (f && f->cmn_struct && !decoder_->message_mean.empty()) {
    cmn_live_set(f->cmn_struct, reinterpret_cast<const mfcc_t*>(decoder_->message_mean.data()));
  }
}

Result<Transcript> Recognizer::Recognize(const std::vector<int16_t>& samples) {
  std::lock_guard lock(mu_);
  Adapt(samples);
  Transcript t;
  if (decoder_->grammar) {
    Restore();
    AIMASS_ASSIGN_OR_RETURN(t.text, Decode("grammar", samples));
    t.search = "grammar";
    if (!t.text.empty()) return t;
  }
  Restore();
  AIMASS_ASSIGN_OR_RETURN(t.text, Decode("language_model", samples));
  t.search = "language_model";
  return t;
}

}  // namespace aimass::speech
