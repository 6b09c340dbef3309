// Training examples with their entities marked in place, as Rasa writes them:
// "book a table for [Tuesday](day)" or, with the value the span stands for,
// "fly to [the big apple](city:New York)". Parsing gives the plain text and each span's byte
// offsets in it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::text {

struct EntitySpan {
  std::string entity;
  std::string value;  // what the span stands for (the span's text unless given)
  size_t begin = 0;   // byte offsets in the plain text
  size_t end = 0;
  std::string extractor;  // lookup, regex, learned
  double confidence = 1.0;
};

struct AnnotatedText {
  std::string text;
  std::vector<EntitySpan> spans;
};

// An entity as the NLU runtime's output and the assist API write it:
// {"entity","value","start","end","extractor","confidence"} (byte offsets), and back.
nlohmann::json EntityJson(const EntitySpan& e);
EntitySpan EntityFromJson(const nlohmann::json& j);

// A '[' with no "](name)" after it is plain text; a span with an empty text or entity name is
// an error.
Result<AnnotatedText> ParseAnnotated(std::string_view marked);

}  // namespace aimass::text
