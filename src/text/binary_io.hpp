// Little-endian fields appended to a string and read back with bounds checks: the layout of the
// NLU model file's sections (intent_model.hpp). Readers return false on a short or damaged
// input instead of reading past it, since model files come from users.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace aimass::text {

class BinaryWriter {
 public:
  explicit BinaryWriter(std::string& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void F32(float v) { Raw(&v, 4); }
  void Str(std::string_view s) {
    U64(s.size());
    out_.append(s);
  }
  void Floats(const std::vector<float>& v) {
    U64(v.size());
    Raw(v.data(), v.size() * sizeof(float));
  }

 private:
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& out_;
};

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view in) : in_(in) {}
  bool U8(uint8_t& v) { return Raw(&v, 1); }
  bool U32(uint32_t& v) { return Raw(&v, 4); }
  bool U64(uint64_t& v) { return Raw(&v, 8); }
  bool F32(float& v) { return Raw(&v, 4); }
  bool Str(std::string& s) {
    uint64_t n = 0;
    if (!U64(n) || n > remaining()) return false;
    s.assign(in_.substr(at_, n));
    at_ += n;
    return true;
  }
  bool Floats(std::vector<float>& v) {
    uint64_t n = 0;
    if (!U64(n) || n > remaining() / sizeof(float)) return false;
    v.resize(n);
    return Raw(v.data(), n * sizeof(float));
  }
  size_t remaining() const { return in_.size() - at_; }

 private:
  bool Raw(void* p, size_t n) {
    if (n > remaining()) return false;
    std::memcpy(p, in_.data() + at_, n);
    at_ += n;
    return true;
  }
  std::string_view in_;
  size_t at_ = 0;
};

}  // namespace aimass::text
