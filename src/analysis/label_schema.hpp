// What a labelling project asks of its annotators: the kind of label (one class, several, boxes
// on an image, spans of a text), the classes with a key each for the keyboard, and which column
// of a table's rows is the text to read (and to mark spans in); a label value checked against it.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::analysis {

enum class LabelKind { kSingle, kMulti, kBoxes, kSpans };

struct LabelSchema {
  LabelKind kind = LabelKind::kSingle;
  std::vector<std::string> classes;
  std::vector<std::string> keys;          // one per class: "1"…"9", "0", then "a"… unless given
  std::string text_column;                // a table's text (required for spans)
  std::vector<std::string> show_columns;  // more of the row, shown beside it
};

std::string KindName(LabelKind k);  // single | multi | boxes | spans

// {"kind","classes":[…],"keys":[…]?,"text_column"?,"show_columns"?}; 2-200 distinct classes of
// at most 100 bytes, keys single distinct characters.
Result<LabelSchema> ParseLabelSchema(const nlohmann::json& j);
nlohmann::json LabelSchemaJson(const LabelSchema& s);

// A label for `s`: single "class"; multi ["class",…] (distinct); boxes [{"class","x","y","w","h"}]
// (pixels, w and h above 0); spans [{"class","start","end"}] (code points of `text`,
// 0 ≤ start < end ≤ its length). Returns the value in canonical form (sorted), so that two equal
// labels are equal JSON.
Result<nlohmann::json> CheckLabel(const LabelSchema& s, const nlohmann::json& value, const std::string& text);

}  // namespace aimass::analysis
