#include "analysis/label_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace aimass::analysis {

using json = nlohmann::json;

namespace {

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool Number(const json& j, const char* k, double* out) {
  if (!j.contains(k) || !j[k].is_number()) return false;
  *out = j[k].get<double>();
  return std::isfinite(*out);
}

}  // namespace

std::string KindName(LabelKind k) {
  switch (k) {
    case LabelKind::kSingle: return "single";
    case LabelKind::kMulti: return "multi";
    case LabelKind::kBoxes: return "boxes";
    case LabelKind::kSpans: return "spans";
  }
  return "single";
}

Result<LabelSchema> ParseLabelSchema(const json& j) {
  if (!j.is_object()) return Status::BadRequest("schema must be an object");
  for (const auto& item : j.items()) {
    const std::string k = item.key();
    if (k != "kind" && k != "classes" && k != "keys" && k != "text_column" && k != "show_columns") {
      return Status::BadRequest("schema." + k + " is not a field of a label schema");
    }
  }
  LabelSchema s;
  const std::string kind = j.value("kind", "single");
  if (kind == "single") {
    s.kind = LabelKind::kSingle;
  } else if (kind == "multi") {
    s.kind = LabelKind::kMulti;
  } else if (kind == "boxes") {
    s.kind = LabelKind::kBoxes;
  } else if (kind == "spans") {
    s.kind = LabelKind::kSpans;
  } else {
    return Status::BadRequest("schema.kind is single, multi, boxes or spans");
  }
  if (!j.contains("classes") || !j["classes"].is_array() || j["classes"].size() < 2 || j["classes"].size() > 200) {
    return Status::BadRequest("schema.classes must list 2 to 200 classes");
  }
  std::set<std::string> seen;
  for (const auto& c : j["classes"]) {
    if (!c.is_string() || c.get<std::string>().empty() || c.get<std::string>().size() > 100) {
      return Status::BadRequest("schema.classes must be names of 1 to 100 bytes");
    }
    if (!seen.insert(c.get<std::string>()).second) return Status::BadRequest("class '" + c.get<std::string>() + "' is listed twice");
    s.classes.push_back(c.get<std::string>());
  }
  if (j.contains("keys")) {
    if (!j["keys"].is_array() || j["keys"].size() != s.classes.size()) return Status::BadRequest("schema.keys must give one key per class");
    std::set<std::string> keys;
    for (const auto& k : j["keys"]) {
      if (!k.is_string() || k.get<std::string>().size() != 1 || !std::isgraph(static_cast<unsigned char>(k.get<std::string>()[0]))) {
        return Status::BadRequest("schema.keys must be single characters");
      }
      if (!keys.insert(k.get<std::string>()).second) return Status::BadRequest("key '" + k.get<std::string>() + "' is given twice");
      s.keys.push_back(k.get<std::string>());
    }
  } else {
    static const std::string kDefault = "1234567890abcdefghijklmnopqrstuvwxyz";
    for (size_t i = 0; i < s.classes.size(); ++i) s.keys.push_back(i < kDefault.size() ? std::string(1, kDefault[i]) : "");
  }
  if (j.contains("text_column")) {
    if (!j["text_column"].is_string()) return Status::BadRequest("schema.text_column must be a column name");
    s.text_column = j["text_column"].get<std::string>();
  }
  if (j.contains("show_columns")) {
    if (!j["show_columns"].is_array()) return Status::BadRequest("schema.show_columns must be a list of column names");
    for (const auto& c : j["show_columns"]) {
      if (!c.is_string()) return Status::BadRequest("schema.show_columns must be a list of column names");
      s.show_columns.push_back(c.get<std::string>());
    }
  }
  if (s.kind == LabelKind::kSpans && s.text_column.empty()) return Status::BadRequest("a spans schema needs text_column");
  return s;
}

json LabelSchemaJson(const LabelSchema& s) {
  json j = {{"kind", KindName(s.kind)}, {"classes", s.classes}, {"keys", s.keys}};
  if (!s.text_column.empty()) j["text_column"] = s.text_column;
  if (!s.show_columns.empty()) j["show_columns"] = s.show_columns;
  return j;
}

Result<json> CheckLabel(const LabelSchema& s, const json& value, const std::string& text) {
  auto known = [&](const json& c) { return c.is_string() && std::find(s.classes.begin(), s.classes.end(), c.get<std::string>()) != s.classes.end(); };
  auto unknown = [&](const json& c) { return Status::BadRequest("'" + (c.is_string() ? c.get<std::string>() : c.dump()) + "' is not a class of this project"); };
  switch (s.kind) {
    case LabelKind::kSingle:
      if (!known(value)) return unknown(value);
      return value;
    case LabelKind::kMulti: {
      if (!value.is_array()) return Status::BadRequest("a multi-label value is a list of classes");
      std::set<std::string> set;
      for (const auto& c : value) {
        if (!known(c)) return unknown(c);
        set.insert(c.get<std::string>());
      }
      return json(std::vector<std::string>(set.begin(), set.end()));  // in order, once each
    }
    case LabelKind::kBoxes: {
      if (!value.is_array() || value.size() > 10000) return Status::BadRequest("boxes are a list of {class, x, y, w, h}");
      std::vector<json> boxes;
      for (const auto& b : value) {
        double x, y, w, h;
        if (!b.is_object() || !known(b.value("class", json())) || !Number(b, "x", &x) || !Number(b, "y", &y) || !Number(b, "w", &w) ||
            !Number(b, "h", &h) || w <= 0 || h <= 0 || x < 0 || y < 0) {
          return Status::BadRequest("a box is {class, x, y, w, h}: a class of this project, x and y at least 0, w and h above 0");
        }
        boxes.push_back({{"class", b["class"]}, {"x", x}, {"y", y}, {"w", w}, {"h", h}});
      }
      std::sort(boxes.begin(), boxes.end(), [](const json& a, const json& b) { return a.dump() < b.dump(); });
      return json(boxes);
    }
    case LabelKind::kSpans: {
      if (!value.is_array() || value.size() > 10000) return Status::BadRequest("spans are a list of {class, start, end}");
      const size_t len = CodePoints(text);
      std::vector<json> spans;
      for (const auto& sp : value) {
        if (!sp.is_object() || !known(sp.value("class", json())) || !sp.contains("start") || !sp["start"].is_number_integer() ||
            !sp.contains("end") || !sp["end"].is_number_integer()) {
          return Status::BadRequest("a span is {class, start, end}: a class of this project and whole numbers");
        }
        const int64_t a = sp["start"], b = sp["end"];
        if (a < 0 || b <= a || static_cast<size_t>(b) > len) {
          return Status::BadRequest("a span's start and end must satisfy 0 ≤ start < end ≤ " + std::to_string(len) + " (the text's characters)");
        }
        spans.push_back({{"class", sp["class"]}, {"start", a}, {"end", b}});
      }
      std::sort(spans.begin(), spans.end(), [](const json& x, const json& y) {
        return std::tie(x["start"].get_ref<const json::number_integer_t&>(), x["end"].get_ref<const json::number_integer_t&>()) <
               std::tie(y["start"].get_ref<const json::number_integer_t&>(), y["end"].get_ref<const json::number_integer_t&>());
      });
      return json(spans);
    }
  }
  return Status::BadRequest("unknown schema");
}

}  // namespace aimass::analysis
