// A dimension's dictionary: each distinct value once, numbered in order of first sight. Code 0
// is null. Append-only, so a code never changes while the cube grows; a Table holds its
// dictionaries as immutable snapshots and a refresh extends a copy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.hpp"

namespace aimass::olap {

class Dictionary {
 public:
  Dictionary() { values_.emplace_back(); }
  // The code of `value`, adding it when new.
  uint32_t Add(std::string_view value);
  std::optional<uint32_t> Find(std::string_view value) const;
  // Entries including null (code 0): codes are [0, size()).
  size_t size() const { return values_.size(); }
  const std::string& value(uint32_t code) const { return values_[code]; }
  const std::vector<std::string>& values() const { return values_; }

  std::string Serialize() const;
  static Result<Dictionary> Parse(std::string_view data);

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> values_;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index_;
};

}  // namespace aimass::olap
