// An app's state in memory, kept current by every piece of feedback as it is stored: the
// catalogue, each user's history, live popularity, sessions and the pairs seen in them since
// the model was trained, and the model it serves. Recommendations read it under a shared lock,
// so that new feedback counts in the very next answer.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "recsys/events.hpp"
#include "recsys/recommender.hpp"

namespace aimass::recommend {

struct ItemInfo {
  std::vector<uint32_t> categories;  // numbers in LiveApp::categories
  std::string title;                 // its title, name or description property, if any
  bool listed = false;               // in the catalogue (not only seen in feedback)
  bool hidden = false;               // not to be recommended
  float popularity = 0;              // weighted feedback, all time
};

struct LiveEntry {
  uint32_t item = 0;
  float weight = 0;
  int64_t last_ms = 0;
  std::string type;  // the heaviest type given to it
  float type_weight = 0;
};

struct LiveUser {
  std::vector<LiveEntry> items;
  std::unordered_map<uint32_t, uint32_t> at;  // item → index in items
  std::vector<uint32_t> recent;               // newest last, at most kRecent
  uint64_t changes = 0;                       // feedback applied, for caches
};

// The model an app serves, with its items mapped to the app's numbers.
struct LoadedModel {
  int64_t version = 0;
  std::unique_ptr<recsys::Recommender> recommender;
  std::vector<int32_t> to_model;  // app item → model item, or -1 (grown as items arrive)
  std::vector<uint32_t> to_app;   // model item → app item
};

class LiveApp {
 public:
  static constexpr size_t kRecent = 20;
  static constexpr size_t kSessionItems = 20;
  static constexpr size_t kMaxSessions = 100000;

  mutable std::shared_mutex mu;
  recsys::IdMap items, users, categories;
  std::vector<ItemInfo> info;
  std::vector<LiveUser> user_state;
  // Sessions by id (newest items last), and item pairs that followed each other in them since
  // the model was trained: the incremental part of "next" and "similar".
  std::unordered_map<std::string, std::vector<uint32_t>> sessions;
  std::unordered_map<uint32_t, std::unordered_map<uint32_t, float>> live_pairs;
  std::shared_ptr<LoadedModel> model;
  uint64_t feedback_count = 0;
  uint64_t catalogue_version = 0;  // bumped by every change of items or configuration (answers cached before are stale)

  // Under the exclusive lock.
  uint32_t Item(const std::string& id);
  uint32_t User(const std::string& id);
  void Apply(uint32_t user, uint32_t item, float weight, const std::string& type, float type_weight, int64_t ts_ms,
             const std::string& session);
  void SetModel(std::shared_ptr<LoadedModel> m);  // maps items and clears the live pairs the model now knows

  // Under a shared lock: the user's history in the model's numbers.
  recsys::UserHistory HistoryFor(uint32_t user, const LoadedModel& m) const;

  // Fold-in cache: the user's vectors for a model, valid while the user's changes are the same.
  // `changes` is the count seen when the history they were computed from was read.
  bool CachedVectors(uint32_t user, const LoadedModel& m, recsys::UserVectors& out) const;
  void CacheVectors(uint32_t user, int64_t model_version, uint64_t changes, const recsys::UserVectors& v) const;

  // Answer cache: a user's recommendations for one query, valid while the model, the user's
  // changes and the catalogue are the same (so new feedback still counts at once).
  struct Answer {
    int64_t model_version = 0;
    uint64_t changes = 0;
    uint64_t catalogue = 0;
    nlohmann::json items;
    std::string served_by;
  };
  bool CachedAnswer(const std::string& key, int64_t model_version, uint64_t changes, Answer& out) const;
  void CacheAnswer(const std::string& key, Answer a) const;

 private:
  struct Cached {
    int64_t version = 0;
    uint64_t changes = 0;
    recsys::UserVectors vectors;
  };
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<uint32_t, Cached> cache_;
  mutable std::mutex answers_mu_;
  mutable std::unordered_map<std::string, Answer> answers_;
};

}  // namespace aimass::recommend
