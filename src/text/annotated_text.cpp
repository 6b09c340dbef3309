#include "text/annotated_text.hpp"

namespace aimass::text {

nlohmann::json EntityJson(const EntitySpan& e) {
  return {{"entity", e.entity}, {"value", e.value}, {"start", e.begin}, {"end", e.end}, {"extractor", e.extractor},
          {"confidence", e.confidence}};
}

EntitySpan EntityFromJson(const nlohmann::json& j) {
  EntitySpan s;
  s.entity = j.value("entity", "");
  s.value = j.value("value", "");
  s.begin = j.value("start", size_t{0});
  s.end = j.value("end", size_t{0});
  s.extractor = j.value("extractor", "");
  s.confidence = j.value("confidence", 1.0);
  return s;
}

Result<AnnotatedText> ParseAnnotated(std::string_view marked) {
  AnnotatedText out;
  size_t i = 0;
  while (i < marked.size()) {
    if (marked[i] != '[') {
      out.text.push_back(marked[i++]);
      continue;
    }
    const size_t close = marked.find(']', i + 1);
    if (close == std::string_view::npos || close + 1 >= marked.size() || marked[close + 1] != '(') {
      out.text.push_back(marked[i++]);
      continue;
    }
    const size_t paren = marked.find(')', close + 2);
    if (paren == std::string_view::npos) {
      out.text.push_back(marked[i++]);
      continue;
    }
    std::string_view span = marked.substr(i + 1, close - i - 1);
    std::string_view label = marked.substr(close + 2, paren - close - 2);
    std::string_view value = span;
    if (const size_t colon = label.find(':'); colon != std::string_view::npos) {
      value = label.substr(colon + 1);
      label = label.substr(0, colon);
    }
    if (span.empty() || label.empty() || value.empty()) {
      return Status::BadRequest("an entity mark '" + std::string(marked.substr(i, paren - i + 1)).substr(0, 100) +
                                "' needs a text and a name: [text](name) or [text](name:value)");
    }
    EntitySpan s;
    s.entity = std::string(label);
    s.value = std::string(value);
    s.begin = out.text.size();
    out.text += span;
    s.end = out.text.size();
    s.extractor = "learned";
    out.spans.push_back(std::move(s));
    i = paren + 1;
  }
  return out;
}

}  // namespace aimass::text
