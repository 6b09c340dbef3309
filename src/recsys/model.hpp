// A trained recommendation model: what every algorithm learned about the items, in one file
// (framework `recommend`, `.rec`), made by the `train.recommend` step and read by the recommend
// module and the registry's validator. Users are not in it: their factors are folded in from
// their live history at request time, so new feedback counts at once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::recsys {

// Each item's best neighbours, best first (a sparse row per item).
struct Neighbours {
  std::vector<uint64_t> offsets{0};
  std::vector<uint32_t> items;
  std::vector<float> scores;

  size_t rows() const { return offsets.size() - 1; }
  std::span<const uint32_t> Items(size_t i) const { return {items.data() + offsets[i], items.data() + offsets[i + 1]}; }
  std::span<const float> Scores(size_t i) const { return {scores.data() + offsets[i], scores.data() + offsets[i + 1]}; }
};

// A dense row-major matrix of factors.
struct Factors {
  size_t rows = 0;
  size_t dim = 0;
  std::vector<float> data;

  const float* Row(size_t r) const { return data.data() + r * dim; }
  float* Row(size_t r) { return data.data() + r * dim; }
};

struct Model {
  std::vector<std::string> items;    // item ids; an item's index is its number in every part below
  std::vector<float> popularity;     // weighted feedback per item, all time
  std::vector<float> recent;         // the same over the last `recent_days` before `trained_until_ms`
  std::vector<int64_t> last_seen_ms; // each item's newest feedback
  int64_t trained_until_ms = 0;      // the newest feedback learned from
  Neighbours knn;                    // item-kNN: cosine similarity of the items' user vectors
  Neighbours cooc;                   // items that follow each item within sessions
  Factors als;                       // implicit ALS item factors
  float als_regularization = 0.1f;
  float als_alpha = 1.f;
  Factors bpr;                       // BPR item factors
  std::vector<float> bpr_bias;
  float bpr_regularization = 0.01f;
  std::string ranker;                // the XGBoost ranker (UBJSON), empty when not trained
  nlohmann::json info = nlohmann::json::object();  // parameters and training measurements

  size_t size() const { return items.size(); }
};

// The model's bytes; ParseModel checks every size and refuses anything else (422).
std::string SerializeModel(const Model& m);
Result<Model> ParseModel(std::string_view bytes);

}  // namespace aimass::recsys
