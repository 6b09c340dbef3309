#include "recsys/evaluation.hpp"

#include <cmath>
#include <mutex>
#include <unordered_map>

#include "common/parallel_for.hpp"

namespace aimass::recsys {

using nlohmann::json;

void RankingMetrics::Add(const std::vector<uint32_t>& ranked, const std::unordered_set<uint32_t>& truth, size_t k) {
  if (truth.empty()) return;
  ++users;
  size_t hits = 0;
  double dcg = 0, ap = 0;
  for (size_t r = 0; r < ranked.size() && r < k; ++r) {
    if (!truth.count(ranked[r])) continue;
    ++hits;
    dcg += 1.0 / std::log2(r + 2.0);
    ap += static_cast<double>(hits) / (r + 1);
  }
  double idcg = 0;
  const size_t ideal = std::min(k, truth.size());
  for (size_t r = 0; r < ideal; ++r) idcg += 1.0 / std::log2(r + 2.0);
  precision += static_cast<double>(hits) / k;
  recall += static_cast<double>(hits) / truth.size();
  ndcg += dcg / idcg;
  map += ap / ideal;
  hit_rate += hits > 0 ? 1 : 0;
}

json RankingMetrics::Json(size_t catalogue, size_t recommended) const {
  const double n = users ? static_cast<double>(users) : 1.0;
  return {{"precision", precision / n}, {"recall", recall / n}, {"ndcg", ndcg / n}, {"map", map / n},
          {"hit_rate", hit_rate / n},   {"coverage", catalogue ? static_cast<double>(recommended) / catalogue : 0.0},
          {"users", users}};
}

Result<json> EvaluateTimeSplit(const std::vector<Event>& events, size_t users, const std::vector<std::string>& items,
                               const EvaluationOptions& o, const Say& say) {
  std::vector<Event> train;
  std::vector<const Event*> test;
  for (const Event& e : events) {
    if (e.ts_ms < o.split_ms) train.push_back(e);
    else test.push_back(&e);
  }
  if (train.empty() || test.empty()) {
    return Status::BadRequest("the split leaves no feedback on one side (" + std::to_string(train.size()) + " before it, " +
                              std::to_string(test.size()) + " from it on)");
  }
  AIMASS_ASSIGN_OR_RETURN(Model model, Train(train, users, items, o.train, say));
  AIMASS_ASSIGN_OR_RETURN(auto rec, Recommender::Create(std::make_shared<const Model>(std::move(model))));
  const Model& m = rec->model();
  const auto histories = Histories(train, users);
  // The truth: what known users chose afterwards among items the model knows (nothing else can
  // be recommended), less what they had before when the app never recommends it again.
  std::unordered_map<uint32_t, std::unordered_set<uint32_t>> truth;
  for (const Event* e : test) {
    if (histories[e->user].items.empty() || m.popularity[e->item] <= 0) continue;
    truth[e->user].insert(e->item);
  }
  if (o.train.exclude_consumed) {
    for (auto& [u, t] : truth) {
      for (const auto& it : histories[u].items) t.erase(it.item);
    }
    std::erase_if(truth, [](const auto& kv) { return kv.second.empty(); });
  }
  std::vector<uint32_t> who;
  for (const auto& [u, t] : truth) who.push_back(u);
  std::sort(who.begin(), who.end());
  if (who.empty()) return Status::BadRequest("no user with feedback before the split chose a known item after it");

  std::vector<Source> sources;
  for (Source s : kBaseSources) {
    if (rec->has(s)) sources.push_back(s);
  }
  if (rec->has(Source::kRanker)) sources.push_back(Source::kRanker);
  json table = json::array();
  std::string best;
  double best_ndcg = -1, baseline = 0;
  for (Source s : sources) {
    std::vector<std::vector<uint32_t>> answers(who.size());
    ParallelFor(who.size(), o.train.threads, [&](size_t k, size_t) {
      const UserHistory& h = histories[who[k]];
      for (const auto& c : rec->Recommend(s, h, o.k, KnownItems(m, o.train.exclude_consumed ? &h : nullptr))) {
        answers[k].push_back(c.item);
      }
    });
    RankingMetrics metrics;
    std::unordered_set<uint32_t> shown;
    size_t catalogue = 0;
    for (float p : m.popularity) catalogue += p > 0;
    for (size_t k = 0; k < who.size(); ++k) {
      metrics.Add(answers[k], truth[who[k]], o.k);
      shown.insert(answers[k].begin(), answers[k].end());
    }
    json row = metrics.Json(catalogue, shown.size());
    row["name"] = SourceName(s);
    table.push_back(row);
    const double ndcg = row["ndcg"].get<double>();
    if (s == Source::kPopular) baseline = ndcg;
    // The baseline and the user's own history are not learned recommenders.
    if (s != Source::kPopular && s != Source::kHistory && ndcg > best_ndcg) {
      best_ndcg = ndcg;
      best = SourceName(s);
    }
    if (say) say(std::string(SourceName(s)) + ": NDCG@" + std::to_string(o.k) + " " + std::to_string(ndcg));
  }
  json out = {{"split_at_ms", o.split_ms}, {"k", o.k}, {"train_events", train.size()}, {"test_events", test.size()},
              {"test_users", who.size()}, {"items", m.size()}, {"exclude_consumed", o.train.exclude_consumed},
              {"algorithms", table}, {"baseline", "popular"}, {"best", best},
              {"best_ndcg_over_baseline", baseline > 0 ? json(best_ndcg / baseline) : json(nullptr)}, {"model", m.info}};
  return out;
}

}  // namespace aimass::recsys
