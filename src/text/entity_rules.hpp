// Entities found by rule: lookup lists (values and their synonyms, matched whole-word and
// ignoring case, the longest first) and regular expressions (RE2: linear time, so a user's
// pattern cannot hang a request).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "text/annotated_text.hpp"

namespace re2 {
class RE2;
}

namespace aimass::text {

struct LookupEntry {
  std::string value;
  std::vector<std::string> synonyms;
};

struct EntityRule {
  std::string name;
  std::vector<LookupEntry> lookup;  // either a list…
  std::string regex;                // …or a pattern (its first group, when it has one, is the value)
};

class EntityRules {
 public:
  EntityRules();
  ~EntityRules();
  EntityRules(EntityRules&&) noexcept;
  EntityRules& operator=(EntityRules&&) noexcept;

  // A pattern RE2 rejects is kBadRequest naming the entity.
  static Result<EntityRules> Build(const std::vector<EntityRule>& rules);

  // The entities in `text`, ordered by position; where matches overlap the longest wins.
  std::vector<EntitySpan> Extract(std::string_view text) const;

 private:
  struct Phrase {
    std::string lower;  // the phrase lower-cased
    std::string entity;
    std::string value;
  };
  struct Pattern {
    std::string entity;
    std::unique_ptr<re2::RE2> re;
  };
  std::vector<Phrase> phrases_;  // longest first
  std::vector<Pattern> patterns_;
};

}  // namespace aimass::text
