// Persons: who the distinct ids are. Each distinct id starts as its own person; an alias (or an
// $identify event naming the anonymous id) merges the anonymous id's person into the known
// one's, so that events of both count as one person's everywhere, including events captured
// before the merge. Person properties come from $set / $set_once / $unset in events and from
// the platform's own models (RFM segments, lifetime values).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::behavior {

class Persons {
 public:
  // Makes room for distinct id codes up to `size` - 1 (each its own person until merged).
  void Grow(size_t size);
  size_t size() const { return parent_.size(); }
  // The person of a distinct id code: the code of its root id.
  uint32_t Root(uint32_t d) const {
    while (parent_[d] != d) d = parent_[d];
    return d;
  }
  // Merges the person of `from` into the person of `into` (into's properties win).
  void Merge(uint32_t from, uint32_t into);
  // The distinct id codes of a person (its root first).
  std::vector<uint32_t> Ids(uint32_t root) const;
  bool merged() const { return !members_.empty(); }

  void Set(uint32_t d, const nlohmann::json& props, bool once);
  void Unset(uint32_t d, const nlohmann::json& keys);
  // null when the person has none.
  const nlohmann::json* Properties(uint32_t root) const;
  const std::unordered_map<uint32_t, nlohmann::json>& all_properties() const { return props_; }

  // Every distinct id code's root (what a query reads without the lock).
  std::vector<uint32_t> Roots() const;

  nlohmann::json Serialize() const;
  static Result<Persons> Parse(const nlohmann::json& j);

 private:
  std::vector<uint32_t> parent_;
  std::unordered_map<uint32_t, std::vector<uint32_t>> members_;  // root → other ids (merged persons only)
  std::unordered_map<uint32_t, nlohmann::json> props_;           // root → properties
};

}  // namespace aimass::behavior
