#include "text/entity_rules.hpp"

#include <re2/re2.h>

#include <algorithm>

#include "common/text.hpp"

namespace aimass::text {

namespace {

bool WordByte(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// A match must not cut a Latin word or number in two (Chinese has no such boundary).
bool AtBoundary(std::string_view text, size_t begin, size_t end) {
  const bool left = begin == 0 || !WordByte(static_cast<unsigned char>(text[begin - 1])) ||
                    !WordByte(static_cast<unsigned char>(text[begin]));
  const bool right = end >= text.size() || !WordByte(static_cast<unsigned char>(text[end])) ||
                     !WordByte(static_cast<unsigned char>(text[end - 1]));
  return left && right;
}

}  // namespace

EntityRules::EntityRules() = default;
EntityRules::~EntityRules() = default;
EntityRules::EntityRules(EntityRules&&) noexcept = default;
EntityRules& EntityRules::operator=(EntityRules&&) noexcept = default;

Result<EntityRules> EntityRules::Build(const std::vector<EntityRule>& rules) {
  EntityRules out;
  for (const auto& r : rules) {
    for (const auto& e : r.lookup) {
      if (!e.value.empty()) out.phrases_.push_back({AsciiLower(e.value), r.name, e.value});
      for (const auto& s : e.synonyms) {
        if (!s.empty()) out.phrases_.push_back({AsciiLower(s), r.name, e.value});
      }
    }
    if (!r.regex.empty()) {
      RE2::Options o;
      o.set_log_errors(false);
      auto re = std::make_unique<RE2>(r.regex, o);
      if (!re->ok()) return Status::BadRequest("entity " + r.name + ": its regex does not compile: " + re->error());
      out.patterns_.push_back({r.name, std::move(re)});
    }
  }
  std::stable_sort(out.phrases_.begin(), out.phrases_.end(),
                   [](const Phrase& a, const Phrase& b) { return a.lower.size() > b.lower.size(); });
  return out;
}

std::vector<EntitySpan> EntityRules::Extract(std::string_view text) const {
  std::vector<EntitySpan> found;
  const std::string lower = AsciiLower(text);
  auto free = [&](size_t b, size_t e) {
    for (const auto& s : found) {
      if (b < s.end && s.begin < e) return false;
    }
    return true;
  };
  for (const auto& p : phrases_) {
    for (size_t at = lower.find(p.lower); at != std::string::npos; at = lower.find(p.lower, at + 1)) {
      const size_t end = at + p.lower.size();
      if (AtBoundary(lower, at, end) && free(at, end)) {
        found.push_back({p.entity, p.value, at, end, "lookup", 1.0});
      }
    }
  }
  for (const auto& p : patterns_) {
    re2::StringPiece input(text.data(), text.size());
    re2::StringPiece groups[2];
    const int n = std::min(2, p.re->NumberOfCapturingGroups() + 1);
    size_t pos = 0;
    while (pos <= text.size() && p.re->Match(input, pos, text.size(), RE2::UNANCHORED, groups, n)) {
      const re2::StringPiece& m = groups[n - 1].data() ? groups[n - 1] : groups[0];
      const size_t b = static_cast<size_t>(m.data() - text.data());
      const size_t e = b + m.size();
      if (e > b && free(b, e)) found.push_back({p.entity, std::string(m), b, e, "regex", 1.0});
      const size_t whole_end = static_cast<size_t>(groups[0].data() - text.data()) + groups[0].size();
      pos = whole_end > pos ? whole_end : pos + 1;
    }
  }
  std::sort(found.begin(), found.end(), [](const EntitySpan& a, const EntitySpan& b) { return a.begin < b.begin; });
  return found;
}

}  // namespace aimass::text
