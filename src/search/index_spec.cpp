#include "search/index_spec.hpp"

#include "common/name.hpp"
#include "common/text.hpp"
#include "text/analyzer.hpp"

namespace aimass::search {

using nlohmann::json;

namespace {

constexpr size_t kMaxFields = 256;

const char* TypeName(FieldSpec::Type t) {
  switch (t) {
    case FieldSpec::kText: return "text";
    case FieldSpec::kKeyword: return "keyword";
    case FieldSpec::kNumber: return "number";
  }
  return "text";
}

bool ValidFieldName(const std::string& n) {
  if (n.empty() || n.size() > 128 || n[0] == '_') return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

Result<bool> Bool(const json& o, const char* key, bool dflt) {
  if (!o.contains(key)) return dflt;
  if (!o[key].is_boolean()) return Status::BadRequest(std::string(key) + " is true or false");
  return o[key].get<bool>();
}

Status ParseFields(const json& j, IndexSpec& s) {
  if (!j.is_object() || j.empty()) return Status::BadRequest("fields is an object of field name → {type, …}");
  if (j.size() > kMaxFields) return Status::BadRequest("at most 256 fields");
  s.fields.clear();
  for (auto it = j.begin(); it != j.end(); ++it) {
    FieldSpec f;
    f.name = it.key();
    if (!ValidFieldName(f.name)) return Status::BadRequest("field name '" + f.name + "' is letters, digits, _ - . (not starting with _)");
    const json& v = it.value();
    std::string type = v.is_string() ? v.get<std::string>() : "";
    if (v.is_object()) {
      if (!v.contains("type") || !v["type"].is_string()) return Status::BadRequest("field " + f.name + ": type is text, keyword or number");
      type = v["type"].get<std::string>();
    } else if (!v.is_string()) {
      return Status::BadRequest("field " + f.name + " is {type, …} or a type's name");
    }
    if (type == "text") f.type = FieldSpec::kText;
    else if (type == "keyword") f.type = FieldSpec::kKeyword;
    else if (type == "number") f.type = FieldSpec::kNumber;
    else return Status::BadRequest("field " + f.name + ": type is text, keyword or number");
    if (v.is_object()) {
      if (v.contains("weight")) {
        if (!v["weight"].is_number_integer() || v["weight"].get<int64_t>() < 1 || v["weight"].get<int64_t>() > 100) {
          return Status::BadRequest("field " + f.name + ": weight is a whole number 1-100");
        }
        f.weight = v["weight"].get<int>();
      }
      AIMASS_ASSIGN_OR_RETURN(f.facet, Bool(v, "facet", false));
      AIMASS_ASSIGN_OR_RETURN(f.sortable, Bool(v, "sortable", false));
      if (f.facet && f.type != FieldSpec::kKeyword) return Status::BadRequest("field " + f.name + ": only keyword fields are facets");
      if (f.sortable && f.type == FieldSpec::kText) return Status::BadRequest("field " + f.name + ": text fields are not sortable");
    }
    f.slot = static_cast<unsigned>(s.fields.size());
    s.fields.push_back(f);
  }
  return Status::Ok();
}

Status ParseVector(const json& v, IndexSpec& s) {
  if (v.is_null()) {
    s.vector.reset();
    return Status::Ok();
  }
  if (!v.is_object()) return Status::BadRequest("vector is {dims, source, fields, metric}");
  VectorSpec vs;
  if (!v.contains("dims") || !v["dims"].is_number_integer() || v["dims"].get<int64_t>() < 1 || v["dims"].get<int64_t>() > 4096) {
    return Status::BadRequest("vector.dims is a whole number 1-4096");
  }
  vs.dims = v["dims"].get<int>();
  if (v.contains("source")) {
    if (!v["source"].is_string() ||
        !(v["source"] == "documents" || ValidateName("deployment", v["source"].get<std::string>(), 128).ok())) {
      return Status::BadRequest("vector.source is \"documents\" or a deployment's name");
    }
    vs.source = v["source"].get<std::string>();
  }
  if (v.contains("metric")) {
    if (!v["metric"].is_string()) return Status::BadRequest("vector.metric is cosine, l2 or dot");
    vs.metric = v["metric"].get<std::string>();
    if (vs.metric != "cosine" && vs.metric != "l2" && vs.metric != "dot") return Status::BadRequest("vector.metric is cosine, l2 or dot");
  }
  if (v.contains("output")) {
    if (!v["output"].is_string()) return Status::BadRequest("vector.output is an output's name");
    vs.output = v["output"].get<std::string>();
  }
  if (v.contains("fields")) {
    if (!v["fields"].is_array()) return Status::BadRequest("vector.fields is a list of text fields");
    for (const auto& f : v["fields"]) {
      if (!f.is_string()) return Status::BadRequest("vector.fields is a list of text fields");
      const FieldSpec* fs = s.Field(f.get<std::string>());
      if (!fs || fs->type != FieldSpec::kText) return Status::BadRequest("vector.fields: " + f.dump() + " is not a text field");
      vs.fields.push_back(f.get<std::string>());
    }
  }
  s.vector = vs;
  return Status::Ok();
}

Status ParseSource(const json& v, IndexSpec& s) {
  if (v.is_null()) {
    s.source.reset();
    return Status::Ok();
  }
  if (!v.is_object() || !v.contains("dataset") || !v["dataset"].is_string()) {
    return Status::BadRequest("source is {dataset, version, id_column}");
  }
  SourceSpec src;
  src.dataset = v["dataset"].get<std::string>();
  AIMASS_RETURN_IF_ERROR(ValidateName("source.dataset", src.dataset, 128));
  if (v.contains("version")) {
    if (v["version"].is_number_integer()) src.version = std::to_string(v["version"].get<int64_t>());
    else if (v["version"].is_string()) src.version = v["version"].get<std::string>();
    else return Status::BadRequest("source.version is latest, a number or an alias");
  }
  if (v.contains("id_column")) {
    if (!v["id_column"].is_string()) return Status::BadRequest("source.id_column is a column's name");
    src.id_column = v["id_column"].get<std::string>();
  }
  s.source = src;
  return Status::Ok();
}

// Every member but name and fields.
Status ParseSettings(const json& j, IndexSpec& s, bool* reindex) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "name" || k == "fields") continue;
    if (k == "language") {
      if (!v.is_string() || !text::Analyzer::ValidLanguage(v.get<std::string>())) {
        return Status::BadRequest("language is en, zh, auto, none or a Snowball stemmer's language");
      }
      if (v.get<std::string>() != s.language) *reindex = true;
      s.language = v.get<std::string>();
    } else if (k == "synonyms") {
      if (!v.is_object()) return Status::BadRequest("synonyms is {word: [synonym, …]}");
      s.synonyms.clear();
      for (auto w = v.begin(); w != v.end(); ++w) {
        if (!w.value().is_array()) return Status::BadRequest("synonyms is {word: [synonym, …]}");
        const std::string key = AsciiLower(w.key());
        for (const auto& x : w.value()) {
          if (!x.is_string() || x.get<std::string>().empty()) return Status::BadRequest("synonyms is {word: [synonym, …]}");
          s.synonyms[key].push_back(x.get<std::string>());
        }
      }
    } else if (k == "stop_words") {
      if (!v.is_array()) return Status::BadRequest("stop_words is a list of words");
      s.stop_words.clear();
      for (const auto& x : v) {
        if (!x.is_string()) return Status::BadRequest("stop_words is a list of words");
        s.stop_words.insert(AsciiLower(x.get<std::string>()));
      }
    } else if (k == "typo_tolerance") {
      if (v.is_boolean()) {
        s.typos = v.get<bool>();
        continue;
      }
      if (!v.is_object()) return Status::BadRequest("typo_tolerance is true, false or {enabled, one_typo, two_typos}");
      AIMASS_ASSIGN_OR_RETURN(s.typos, Bool(v, "enabled", s.typos));
      for (auto [key, dst] : {std::pair{"one_typo", &s.one_typo}, std::pair{"two_typos", &s.two_typos}}) {
        if (!v.contains(key)) continue;
        if (!v[key].is_number_integer() || v[key].get<int64_t>() < 1 || v[key].get<int64_t>() > 64) {
          return Status::BadRequest(std::string("typo_tolerance.") + key + " is a word length 1-64");
        }
        *dst = v[key].get<int>();
      }
      if (s.two_typos < s.one_typo) return Status::BadRequest("typo_tolerance.two_typos is at least one_typo");
    } else if (k == "prefix_search") {
      AIMASS_ASSIGN_OR_RETURN(s.prefix, Bool(j, "prefix_search", s.prefix));
    } else if (k == "matching") {
      if (v != "any" && v != "all") return Status::BadRequest("matching is any or all");
      s.matching = v.get<std::string>();
    } else if (k == "ranking") {
      if (!v.is_object()) return Status::BadRequest("ranking is {k1, b}");
      if (v.contains("k1")) {
        if (!v["k1"].is_number() || v["k1"].get<double>() < 0 || v["k1"].get<double>() > 10) return Status::BadRequest("ranking.k1 is 0-10");
        s.k1 = v["k1"].get<double>();
      }
      if (v.contains("b")) {
        if (!v["b"].is_number() || v["b"].get<double>() < 0 || v["b"].get<double>() > 1) return Status::BadRequest("ranking.b is 0-1");
        s.b = v["b"].get<double>();
      }
    } else if (k == "vector") {
      const bool had = s.vector.has_value();
      const int dims = had ? s.vector->dims : 0;
      AIMASS_RETURN_IF_ERROR(ParseVector(v, s));
      if (had != s.vector.has_value() || (had && dims != s.vector->dims)) *reindex = true;
    } else if (k == "source") {
      AIMASS_RETURN_IF_ERROR(ParseSource(v, s));
    } else {
      return Status::BadRequest("unknown member '" + k + "' of an index");
    }
  }
  return Status::Ok();
}

}  // namespace

const FieldSpec* IndexSpec::Field(const std::string& n) const {
  for (const auto& f : fields) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

json IndexSpec::ToJson() const {
  json f = json::object();
  for (const auto& x : fields) {
    json o = {{"type", TypeName(x.type)}};
    if (x.type == FieldSpec::kText) o["weight"] = x.weight;
    if (x.type == FieldSpec::kKeyword) o["facet"] = x.facet;
    if (x.type != FieldSpec::kText) o["sortable"] = x.sortable;
    f[x.name] = o;
  }
  json syn = json::object();
  for (const auto& [w, list] : synonyms) syn[w] = list;
  json j = {{"name", name},
            {"fields", f},
            {"language", language},
            {"synonyms", syn},
            {"stop_words", stop_words},
            {"typo_tolerance", {{"enabled", typos}, {"one_typo", one_typo}, {"two_typos", two_typos}}},
            {"prefix_search", prefix},
            {"matching", matching},
            {"ranking", {{"k1", k1}, {"b", b}}},
            {"vector", nullptr},
            {"source", nullptr}};
  if (vector) {
    j["vector"] = {{"dims", vector->dims}, {"source", vector->source}, {"fields", vector->fields},
                   {"metric", vector->metric}, {"output", vector->output}};
  }
  if (source) j["source"] = {{"dataset", source->dataset}, {"version", source->version}, {"id_column", source->id_column}};
  return j;
}

Result<IndexSpec> ParseIndexSpec(const json& j) {
  if (!j.is_object()) return Status::BadRequest("an index is a JSON object");
  IndexSpec s;
  if (!j.contains("name") || !j["name"].is_string()) return Status::BadRequest("name is required");
  s.name = j["name"].get<std::string>();
  AIMASS_RETURN_IF_ERROR(ValidateName("index", s.name, 128));
  if (!j.contains("fields")) return Status::BadRequest("fields is required: {name: {type: text|keyword|number, …}}");
  AIMASS_RETURN_IF_ERROR(ParseFields(j["fields"], s));
  bool reindex = false;
  AIMASS_RETURN_IF_ERROR(ParseSettings(j, s, &reindex));
  return s;
}

Result<IndexSpec> PatchIndexSpec(const IndexSpec& base, const json& patch, bool* reindex) {
  if (!patch.is_object()) return Status::BadRequest("a change of an index is a JSON object");
  if (patch.contains("name") && patch["name"] != base.name) return Status::BadRequest("an index's name cannot change");
  IndexSpec s = base;
  *reindex = false;
  if (patch.contains("fields")) {
    AIMASS_RETURN_IF_ERROR(ParseFields(patch["fields"], s));
    *reindex = true;
    if (s.vector) {
      for (const auto& f : s.vector->fields) {
        const FieldSpec* fs = s.Field(f);
        if (!fs || fs->type != FieldSpec::kText) return Status::BadRequest("vector.fields: " + f + " is not a text field");
      }
    }
  }
  AIMASS_RETURN_IF_ERROR(ParseSettings(patch, s, reindex));
  return s;
}

}  // namespace aimass::search
