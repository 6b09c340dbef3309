// A C interface to Debian's libsentencepiece, built as its own shared object
// (libaimass_sentencepiece.so) that the tokenizer loads with dlopen(RTLD_DEEPBIND).
// libsentencepiece carries its own copy of protobuf 3.14 and exports its symbols; linked into
// the server beside gRPC's libprotobuf 3.21 the two copies bind to each other's functions and
// the process crashes before main. Loaded this way it keeps its own copy to itself.
#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

namespace {
using Processor = sentencepiece::SentencePieceProcessor;
Processor* P(void* h) { return static_cast<Processor*>(h); }

// Copies `s` into `out` (up to `cap` bytes) and returns its full length.
int Give(const std::string& s, char* out, int cap) {
  if (cap > 0) std::memcpy(out, s.data(), std::min<size_t>(s.size(), static_cast<size_t>(cap)));
  return static_cast<int>(s.size());
}
}  // namespace

extern "C" {

void* aimass_sp_load(const char* path, char* error, int error_cap) {
  auto* p = new Processor();
  auto st = p->Load(path);
  if (!st.ok()) {
    const int n = Give(st.ToString(), error, error_cap - 1);
    if (error_cap > 0) error[std::min(n, error_cap - 1)] = '\0';
    delete p;
    return nullptr;
  }
  return p;
}

void aimass_sp_free(void* h) { delete P(h); }

// Token ids of `text` into `out`; returns how many there are (more than `cap`: call again).
int aimass_sp_encode(void* h, const char* text, int len, int* out, int cap) {
  std::vector<int> ids;
  (void)P(h)->Encode(std::string_view(text, static_cast<size_t>(len)), &ids);
  for (size_t i = 0; i < ids.size() && static_cast<int>(i) < cap; ++i) out[i] = ids[i];
  return static_cast<int>(ids.size());
}

int aimass_sp_decode(void* h, const int* ids, int n, char* out, int cap) {
  std::string text;
  (void)P(h)->Decode(std::vector<int>(ids, ids + n), &text);
  return Give(text, out, cap);
}

int aimass_sp_piece(void* h, int id, char* out, int cap) { return Give(P(h)->IdToPiece(id), out, cap); }
int aimass_sp_piece_to_id(void* h, const char* piece, int len) {
  return P(h)->PieceToId(std::string_view(piece, static_cast<size_t>(len)));
}
int aimass_sp_size(void* h) { return P(h)->GetPieceSize(); }
int aimass_sp_bos(void* h) { return P(h)->bos_id(); }
int aimass_sp_eos(void* h) { return P(h)->eos_id(); }
int aimass_sp_unk(void* h) { return P(h)->unk_id(); }
int aimass_sp_is_control(void* h, int id) { return P(h)->IsControl(id) ? 1 : 0; }

}  // extern "C"
