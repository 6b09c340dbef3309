// Trains every algorithm on a log of feedback and, on its newest weeks, the ranker that mixes
// them: the `train.recommend` step's work, and the offline evaluation's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "recsys/als.hpp"
#include "recsys/bpr.hpp"
#include "recsys/events.hpp"
#include "recsys/model.hpp"
#include "recsys/ranker.hpp"
#include "recsys/recommender.hpp"

namespace aimass::recsys {

struct TrainOptions {
  AlsOptions als;
  BprOptions bpr;
  RankerOptions ranker;
  int knn_neighbours = 100;
  float knn_shrink = 10;
  int cooc_window = 5;
  int cooc_neighbours = 50;
  int recent_days = 30;
  int64_t session_gap_ms = 30 * 60 * 1000;
  bool train_ranker = true;
  int ranker_days = 30;        // the newest days the ranker learns to predict from the days before
  size_t ranker_users = 3000;  // at most this many users' candidates
  size_t candidates = 20;      // per algorithm, for the ranker (its training and its answers)
  bool exclude_consumed = false;
  int threads = 1;
};

using Say = std::function<void(const std::string&)>;

// The model of `events` (users numbered below `users`, items named by `items`).
Result<Model> Train(const std::vector<Event>& events, size_t users, const std::vector<std::string>& items,
                    const TrainOptions& options, const Say& say);

// Each user's history of `events`: weights summed per item, and the newest items in order.
std::vector<UserHistory> Histories(const std::vector<Event>& events, size_t users);

// The filter a history implies: items with feedback in the model, not the user's own if excluded.
Filter KnownItems(const Model& m, const UserHistory* consumed);

}  // namespace aimass::recsys
