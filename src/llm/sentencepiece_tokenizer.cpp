// The SentencePiece tokenizer (Llama's and Mistral's tokenizer.model), through
// libaimass_sentencepiece.so (sentencepiece_shim.cpp says why it is loaded apart).
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "llm/tokenizer.hpp"

#ifndef AIMASS_BUILD_DIR
#define AIMASS_BUILD_DIR ""
#endif

namespace aimass::llm {

namespace {

// The shim's functions, looked up once.
struct Shim {
  void* (*load)(const char*, char*, int) = nullptr;
  void (*free)(void*) = nullptr;
  int (*encode)(void*, const char*, int, int*, int) = nullptr;
  int (*decode)(void*, const int*, int, char*, int) = nullptr;
  int (*piece)(void*, int, char*, int) = nullptr;
  int (*piece_to_id)(void*, const char*, int) = nullptr;
  int (*size)(void*) = nullptr;
  int (*bos)(void*) = nullptr;
  int (*eos)(void*) = nullptr;
  int (*unk)(void*) = nullptr;
  int (*is_control)(void*, int) = nullptr;
};

constexpr const char* kShim = "libaimass_sentencepiece.so";

// Beside the binary, else where it was built (a binary copied elsewhere, as the tests do), else
// AIMASS_SENTENCEPIECE_SHIM.
Result<const Shim*> LoadShim() {
  static std::once_flag once;
  static Shim shim;
  static std::string error;
  std::call_once(once, [] {
    std::vector<std::string> paths;
    if (const char* env = std::getenv("AIMASS_SENTENCEPIECE_SHIM")) paths.push_back(env);
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
      std::string dir(self, static_cast<size_t>(n));
      paths.push_back(dir.substr(0, dir.rfind('/') + 1) + kShim);
    }
    if (*AIMASS_BUILD_DIR) paths.push_back(std::string(AIMASS_BUILD_DIR) + "/" + kShim);
    void* lib = nullptr;
    for (const auto& p : paths) {
      if (::access(p.c_str(), R_OK) != 0) continue;
      lib = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (lib) break;
      error = ::dlerror();
    }
    if (!lib) {
      if (error.empty()) error = std::string(kShim) + " is not beside the binary";
      return;
    }
    auto sym = [&](auto& fn, const char* name) { fn = reinterpret_cast<std::decay_t<decltype(fn)>>(::dlsym(lib, name)); };
    sym(shim.load, "aimass_sp_load");
    sym(shim.free, "aimass_sp_free");
    sym(shim.encode, "aimass_sp_encode");
    sym(shim.decode, "aimass_sp_decode");
    sym(shim.piece, "aimass_sp_piece");
    sym(shim.piece_to_id, "aimass_sp_piece_to_id");
    sym(shim.size, "aimass_sp_size");
    sym(shim.bos, "aimass_sp_bos");
    sym(shim.eos, "aimass_sp_eos");
    sym(shim.unk, "aimass_sp_unk");
    sym(shim.is_control, "aimass_sp_is_control");
    if (!shim.load || !shim.is_control) {
      shim.load = nullptr;
      error = std::string(kShim) + " lacks its functions";
    }
  });
  if (!shim.load) return Status::Unavailable("SentencePiece cannot be loaded: " + error);
  return &shim;
}

// A string the shim fills: asked with a guess, again with the exact size when it was short.
template <typename F>
std::string Filled(F fill) {
  std::string out(256, '\0');
  int n = fill(out.data(), static_cast<int>(out.size()));
  if (n > static_cast<int>(out.size())) {
    out.resize(static_cast<size_t>(n));
    n = fill(out.data(), n);
  }
  out.resize(static_cast<size_t>(std::max(0, n)));
  return out;
}

class SentencePieceTokenizer : public Tokenizer {
 public:
  SentencePieceTokenizer(const Shim& s, void* h) : s_(s), h_(h) {
    size_ = s_.size(h_);
    bos_ = s_.bos(h_);
    eos_ = s_.eos(h_);
    unk_ = s_.unk(h_);
  }
  ~SentencePieceTokenizer() override { s_.free(h_); }

  std::vector<int> Encode(std::string_view text) const override {
    std::vector<int> ids(text.size() + 16);
    int n = s_.encode(h_, text.data(), static_cast<int>(text.size()), ids.data(), static_cast<int>(ids.size()));
    if (n > static_cast<int>(ids.size())) {
      ids.resize(static_cast<size_t>(n));
      n = s_.encode(h_, text.data(), static_cast<int>(text.size()), ids.data(), n);
    }
    ids.resize(static_cast<size_t>(std::max(0, n)));
    return ids;
  }
  std::string Decode(const std::vector<int>& ids) const override {
    std::vector<int> kept;
    kept.reserve(ids.size());
    for (int id : ids) {
      if (id >= 0 && id < size_ && !s_.is_control(h_, id)) kept.push_back(id);
    }
    return Filled([&](char* out, int cap) { return s_.decode(h_, kept.data(), static_cast<int>(kept.size()), out, cap); });
  }
  std::optional<int> PieceId(std::string_view piece) const override {
    const int id = s_.piece_to_id(h_, piece.data(), static_cast<int>(piece.size()));
    if (id < 0 || (id == unk_ && Piece(id) != piece)) return std::nullopt;
    return id;
  }
  std::string Piece(int id) const override {
    if (id < 0 || id >= size_) return {};
    return Filled([&](char* out, int cap) { return s_.piece(h_, id, out, cap); });
  }
  int vocab_size() const override { return size_; }
  int bos() const override { return bos_; }
  int eos() const override { return eos_; }

 private:
  const Shim& s_;
  void* h_;
  int size_ = 0, bos_ = -1, eos_ = -1, unk_ = 0;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadSentencePiece(const std::string& path) {
  AIMASS_ASSIGN_OR_RETURN(const Shim* shim, LoadShim());
  char error[256] = {0};
  void* h = shim->load(path.c_str(), error, sizeof(error));
  if (!h) return Status::Unprocessable("tokenizer.model is not a SentencePiece model");
  return std::unique_ptr<Tokenizer>(std::make_unique<SentencePieceTokenizer>(*shim, h));
}

}  // namespace aimass::llm
