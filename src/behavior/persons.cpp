#include "behavior/persons.hpp"

#include <charconv>
#include <numeric>

namespace aimass::behavior {

using nlohmann::json;

void Persons::Grow(size_t size) {
  const size_t old = parent_.size();
  if (size <= old) return;
  parent_.resize(size);
  std::iota(parent_.begin() + static_cast<std::ptrdiff_t>(old), parent_.end(), static_cast<uint32_t>(old));
}

void Persons::Merge(uint32_t from, uint32_t into) {
  const uint32_t a = Root(from), b = Root(into);
  if (a == b) return;
  parent_[a] = b;
  auto& mb = members_[b];
  mb.push_back(a);
  if (auto it = members_.find(a); it != members_.end()) {
    mb.insert(mb.end(), it->second.begin(), it->second.end());
    members_.erase(it);
  }
  // Flatten, so that Root() stays one step for every id of the person.
  for (uint32_t m : mb) parent_[m] = b;
  if (auto it = props_.find(a); it != props_.end()) {
    json& pb = props_[b];
    if (!pb.is_object()) pb = json::object();
    for (const auto& [k, v] : it->second.items()) {
      if (!pb.contains(k)) pb[k] = v;
    }
    props_.erase(a);
  }
}

std::vector<uint32_t> Persons::Ids(uint32_t root) const {
  std::vector<uint32_t> ids{root};
  if (auto it = members_.find(root); it != members_.end()) ids.insert(ids.end(), it->second.begin(), it->second.end());
  return ids;
}

void Persons::Set(uint32_t d, const json& props, bool once) {
  if (!props.is_object() || props.empty()) return;
  json& p = props_[Root(d)];
  if (!p.is_object()) p = json::object();
  for (const auto& [k, v] : props.items()) {
    if (once && p.contains(k)) continue;
    p[k] = v;
  }
}

void Persons::Unset(uint32_t d, const json& keys) {
  auto it = props_.find(Root(d));
  if (it == props_.end() || !keys.is_array()) return;
  for (const auto& k : keys) {
    if (k.is_string()) it->second.erase(k.get<std::string>());
  }
}

const json* Persons::Properties(uint32_t root) const {
  auto it = props_.find(root);
  return it == props_.end() ? nullptr : &it->second;
}

std::vector<uint32_t> Persons::Roots() const { return parent_; }  // flattened: a parent is the root

json Persons::Serialize() const {
  json merged = json::array(), props = json::object();
  for (const auto& [root, ids] : members_) {
    for (uint32_t m : ids) merged.push_back({m, root});
  }
  for (const auto& [root, p] : props_) props[std::to_string(root)] = p;
  return {{"size", parent_.size()}, {"merged", merged}, {"properties", props}};
}

Result<Persons> Persons::Parse(const json& j) {
  Persons p;
  const Status bad = Status::Internal("the persons in a behaviour checkpoint are damaged");
  if (!j.is_object() || !j.contains("size") || !j["size"].is_number_unsigned()) return bad;
  p.Grow(j["size"].get<size_t>());
  const json merged = j.value("merged", json::array());
  for (const auto& m : merged) {
    if (!m.is_array() || m.size() != 2 || !m[0].is_number_unsigned() || !m[1].is_number_unsigned()) return bad;
    const uint32_t a = m[0], b = m[1];
    if (a >= p.size() || b >= p.size()) return bad;
    p.parent_[a] = b;
    p.members_[b].push_back(a);
  }
  const json props = j.value("properties", json::object());  // items() must not outlive it
  for (const auto& [k, v] : props.items()) {
    uint32_t root = 0;
    auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), root);
    if (ec != std::errc() || end != k.data() + k.size() || root >= p.size()) return bad;
    p.props_[static_cast<uint32_t>(root)] = v;
  }
  return p;
}

}  // namespace aimass::behavior
