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
  bool grammar = false;  // a "grammar" search besides the "language_model" one
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

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

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

Result<Transcript> Recognizer::Recognize(const std::vector<int16_t>& samples) {
  std::lock_guard lock(mu_);
  Transcript t;
  AIMASS_ASSIGN_OR_RETURN(t.text, Decode("language_model", samples));
  t.search = "language_model";
  if (t.text.empty() || !decoder_->grammar) return t;
  AIMASS_ASSIGN_OR_RETURN(std::string sentence, Decode("grammar", samples));
  if (sentence.empty()) return t;
  const auto heard = Words(t.text);
  const auto said = Words(sentence);
  size_t shared = 0;
  for (const auto& w : heard) shared += std::find(said.begin(), said.end(), w) != said.end();
  if (heard.size() <= 1 || 2 * shared >= heard.size()) {
    t.text = std::move(sentence);
    t.search = "grammar";
  }
  return t;
}

}  // namespace aimass::speech
