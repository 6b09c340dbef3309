// Answers from a trained model: each algorithm's scores for a user's live history, the ranker
// that mixes their candidates, similar items and a session's next item, each answer with the
// item that explains it. The recommend module serves with it and the offline evaluation measures
// it, so that what is measured is what is served.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "recsys/model.hpp"

namespace aimass::recsys {

enum class Source : uint8_t { kPopular, kRecent, kHistory, kItemKnn, kAls, kBpr, kSession, kRanker };
// The sources the ranker mixes, in the order of its features.
inline constexpr Source kBaseSources[] = {Source::kPopular, Source::kRecent, Source::kHistory, Source::kItemKnn,
                                          Source::kAls,     Source::kBpr,    Source::kSession};
inline constexpr size_t kRankerFeatures = 2 * std::size(kBaseSources) + 3;

std::string_view SourceName(Source s);  // "popular", "recent", "history", "item_knn", "als", "bpr", "session", "ranker"
std::optional<Source> SourceNamed(std::string_view name);

struct HistoryItem {
  uint32_t item = 0;  // the model's number of the item
  float weight = 0;   // all the user's feedback on it, weighted by type
  int64_t last_ms = 0;
};

// A user's feedback on the model's items: one entry per item, and the newest items in time order.
struct UserHistory {
  std::vector<HistoryItem> items;
  std::vector<uint32_t> recent;  // newest last
};

// The user's folded-in factors, computed once per answer.
struct UserVectors {
  std::vector<float> als;
  std::vector<float> bpr;
};

struct Candidate {
  uint32_t item = 0;
  float score = 0;
  Source source = Source::kPopular;  // what put it here (for the ranker: the source that ranked it best)
  int64_t because = -1;              // the history item that explains it, or -1
};

// Which items may be answered, and at most how many from one group (diversity).
struct Filter {
  std::function<bool(uint32_t)> keep;       // empty: every item
  std::function<uint32_t(uint32_t)> group;  // empty: no groups
  size_t max_per_group = 0;                 // 0: no limit
};

class Recommender {
 public:
  static Result<std::unique_ptr<Recommender>> Create(std::shared_ptr<const Model> model);
  ~Recommender();

  const Model& model() const { return *model_; }
  bool has(Source s) const;

  UserVectors Vectors(const UserHistory& h) const;
  // Every item's score by one base source; items it would not suggest score kNone.
  void Scores(Source s, const UserHistory& h, const UserVectors& v, std::vector<float>& out) const;
  // The n best items by a source (kRanker: the mix), best first; `v` the user's vectors when
  // already known (Vectors(h)).
  std::vector<Candidate> Recommend(Source s, const UserHistory& h, size_t n, const Filter& f,
                                   const UserVectors* v = nullptr) const;
  static bool NeedsVectors(Source s) { return s == Source::kAls || s == Source::kBpr || s == Source::kRanker; }
  // Items like `item`: item-kNN neighbours merged with session co-occurrence.
  std::vector<Candidate> Similar(uint32_t item, size_t n, const Filter& f) const;
  // What comes next after a session's items (newest last); popular items when nothing follows.
  std::vector<Candidate> Next(std::span<const uint32_t> session, size_t n, const Filter& f) const;

  // The candidates the ranker orders: each base source's best `per_source`, with their features
  // (rows × kRankerFeatures, NaN where a source has no score).
  struct Pool {
    std::vector<uint32_t> items;
    std::vector<float> features;
    std::vector<Source> source;  // the base source that ranked each best
  };
  Pool Candidates(const UserHistory& h, const UserVectors& v, const Filter& f, size_t per_source) const;

  static constexpr float kNone = -1e30f;

 private:
  explicit Recommender(std::shared_ptr<const Model> model);
  int64_t Because(Source s, uint32_t item, const UserHistory& h) const;
  std::vector<Candidate> Ranked(const UserHistory& h, const UserVectors& v, size_t n, const Filter& f) const;

  std::shared_ptr<const Model> model_;
  std::vector<float> als_gram_;
  std::vector<float> popular_, recent_;  // the user-independent scores
  size_t ranker_candidates_ = 50;         // from each algorithm, as the ranker was trained
  void* booster_ = nullptr;  // BoosterHandle
};

// The n best of `scores` that the filter allows (ignoring kNone), best first.
std::vector<uint32_t> TopN(const std::vector<float>& scores, size_t n, const Filter& f);

}  // namespace aimass::recsys
