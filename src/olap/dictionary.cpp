#include "olap/dictionary.hpp"

#include <cstring>

namespace aimass::olap {

uint32_t Dictionary::Add(std::string_view value) {
  auto it = index_.find(value);
  if (it != index_.end()) return it->second;
  const auto code = static_cast<uint32_t>(values_.size());
  values_.emplace_back(value);
  index_.emplace(std::string(value), code);
  return code;
}

std::optional<uint32_t> Dictionary::Find(std::string_view value) const {
  auto it = index_.find(value);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

// Entries after null, each a 4-byte little-endian length and its bytes.
std::string Dictionary::Serialize() const {
  std::string out;
  for (size_t i = 1; i < values_.size(); ++i) {
    const auto n = static_cast<uint32_t>(values_[i].size());
    out.append(reinterpret_cast<const char*>(&n), 4);
    out += values_[i];
  }
  return out;
}

Result<Dictionary> Dictionary::Parse(std::string_view data) {
  Dictionary d;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 4) return Status::Internal("a cube dictionary is cut short");
    uint32_t n;
    std::memcpy(&n, data.data() + pos, 4);
    pos += 4;
    if (data.size() - pos < n) return Status::Internal("a cube dictionary is cut short");
    const std::string_view v = data.substr(pos, n);
    pos += n;
    if (d.index_.count(v)) return Status::Internal("a cube dictionary repeats a value");
    d.Add(v);
  }
  return d;
}

}  // namespace aimass::olap
