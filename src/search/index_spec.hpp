// What an index is: its fields and their kinds, language, synonyms, stop words, typo and
// prefix rules, ranking parameters, an optional vector and an optional dataset it follows.
// Parsed from and rendered to the JSON of POST /api/v1/search/indexes.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::search {

struct FieldSpec {
  enum Type { kText, kKeyword, kNumber };
  std::string name;
  Type type = kText;
  int weight = 1;         // text: how much a match here counts (1-100)
  bool facet = false;     // keyword: counted in facets
  bool sortable = false;  // keyword, number
  unsigned slot = 0;      // Xapian value slot (keyword, number): its position in `fields`
};

struct VectorSpec {
  int dims = 0;
  std::string source = "documents";  // documents (each carries `_vector`) or a deployment's name
  std::vector<std::string> fields;   // text fields a deployment embeds (default: every text field)
  std::string output;                // the deployment's output (default: its first FP32 one)
  std::string metric = "cosine";     // cosine | l2 | dot
};

struct SourceSpec {
  std::string dataset;
  std::string version = "latest";    // latest (follows new versions) or a number or alias
  std::string id_column = "id";      // missing column: the row's number
};

struct IndexSpec {
  std::string name;
  std::vector<FieldSpec> fields;     // sorted by name
  std::string language = "en";
  std::map<std::string, std::vector<std::string>> synonyms;  // word → words or phrases
  std::set<std::string> stop_words;
  bool typos = true;
  int one_typo = 5, two_typos = 9;   // shortest words with one and two typos allowed
  bool prefix = true;
  std::string matching = "any";      // any | all: how plain words are joined
  double k1 = 1.5, b = 0.75;         // BM25 (decision 112)
  std::optional<VectorSpec> vector;
  std::optional<SourceSpec> source;

  const FieldSpec* Field(const std::string& name) const;
  nlohmann::json ToJson() const;
};

// Parses and checks a spec (name included unless `name` is given).
Result<IndexSpec> ParseIndexSpec(const nlohmann::json& j);
// Applies a PATCH: any member but name; fields and vector changes mean a reindex (*reindex).
Result<IndexSpec> PatchIndexSpec(const IndexSpec& base, const nlohmann::json& patch, bool* reindex);

}  // namespace aimass::search
