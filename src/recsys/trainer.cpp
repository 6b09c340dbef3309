#include "recsys/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "recsys/neighbours.hpp"
#include "common/parallel_for.hpp"

namespace aimass::recsys {

using nlohmann::json;

namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr size_t kRecentItems = 20;

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

// Every algorithm but the ranker.
Model TrainBase(const std::vector<Event>& events, size_t users, const std::vector<std::string>& items, const TrainOptions& o,
                const Say& say) {
  Model m;
  m.items = items;
  const size_t n = items.size();
  m.popularity.assign(n, 0);
  m.recent.assign(n, 0);
  m.last_seen_ms.assign(n, 0);
  for (const Event& e : events) m.trained_until_ms = std::max(m.trained_until_ms, e.ts_ms);
  const int64_t recent_from = m.trained_until_ms - o.recent_days * kDayMs;
  for (const Event& e : events) {
    m.popularity[e.item] += e.weight;
    if (e.ts_ms > recent_from) m.recent[e.item] += e.weight;
    m.last_seen_ms[e.item] = std::max(m.last_seen_ms[e.item], e.ts_ms);
  }
  const Csr matrix = UserItemMatrix(events, users, n);
  json seconds = json::object();
  auto t = std::chrono::steady_clock::now();
  m.knn = TrainItemKnn(matrix, o.knn_neighbours, o.knn_shrink, o.threads);
  seconds["item_knn"] = Since(t);
  t = std::chrono::steady_clock::now();
  m.cooc = TrainCooccurrence(Sessions(events, o.session_gap_ms), n, o.cooc_window, o.cooc_neighbours);
  seconds["session"] = Since(t);
  t = std::chrono::steady_clock::now();
  AlsOptions als = o.als;
  als.threads = o.threads;
  m.als = TrainAls(matrix, als);
  m.als_regularization = als.regularization;
  m.als_alpha = als.alpha;
  seconds["als"] = Since(t);
  t = std::chrono::steady_clock::now();
  BprOptions bpr = o.bpr;
  bpr.threads = o.threads;
  TrainBpr(matrix, bpr, m.bpr, m.bpr_bias);
  m.bpr_regularization = bpr.regularization;
  seconds["bpr"] = Since(t);
  if (say) {
    say("trained on " + std::to_string(events.size()) + " events (" + std::to_string(matrix.nnz()) + " user-item pairs): item-kNN " +
        Seconds(seconds["item_knn"]) + ", sessions " + Seconds(seconds["session"]) + ", ALS " + Seconds(seconds["als"]) +
        ", BPR " + Seconds(seconds["bpr"]));
  }
  m.info = {{"events", events.size()}, {"pairs", matrix.nnz()}, {"users", users}, {"items", n}, {"seconds", seconds},
            {"als", {{"factors", als.factors}, {"iterations", als.iterations}, {"regularization", als.regularization},
                     {"alpha", als.alpha}, {"cg_steps", als.cg_steps}}},
            {"bpr", {{"factors", bpr.factors}, {"epochs", bpr.epochs}, {"learning_rate", bpr.learning_rate},
                     {"regularization", bpr.regularization}}},
            {"item_knn", {{"neighbours", o.knn_neighbours}, {"shrink", o.knn_shrink}}},
            {"session", {{"window", o.cooc_window}, {"neighbours", o.cooc_neighbours}, {"gap_ms", o.session_gap_ms}}}};
  return m;
}

}  // namespace

std::vector<UserHistory> Histories(const std::vector<Event>& events, size_t users) {
  std::vector<const Event*> order;
  order.reserve(events.size());
  for (const Event& e : events) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Event* a, const Event* b) { return a->ts_ms < b->ts_ms; });
  std::vector<UserHistory> out(users);
  std::vector<std::unordered_map<uint32_t, size_t>> at(users);
  for (const Event* e : order) {
    UserHistory& h = out[e->user];
    auto [it, added] = at[e->user].try_emplace(e->item, h.items.size());
    if (added) h.items.push_back({e->item, 0, 0});
    HistoryItem& hi = h.items[it->second];
    hi.weight += e->weight;
    hi.last_ms = std::max(hi.last_ms, e->ts_ms);
    if (h.recent.empty() || h.recent.back() != e->item) h.recent.push_back(e->item);
    if (h.recent.size() > 2 * kRecentItems) h.recent.erase(h.recent.begin(), h.recent.begin() + kRecentItems);
  }
  return out;
}

Filter KnownItems(const Model& m, const UserHistory* consumed) {
  Filter f;
  if (consumed && !consumed->items.empty()) {
    auto mine = std::make_shared<std::unordered_set<uint32_t>>();
    for (const auto& it : consumed->items) mine->insert(it.item);
    f.keep = [&m, mine](uint32_t i) { return m.popularity[i] > 0 && !mine->count(i); };
  } else {
    f.keep = [&m](uint32_t i) { return m.popularity[i] > 0; };
  }
  return f;
}

Result<Model> Train(const std::vector<Event>& events, size_t users, const std::vector<std::string>& items, const TrainOptions& o,
                    const Say& say) {
  if (events.empty()) return Status::BadRequest("there is no feedback to learn from");
  const auto started = std::chrono::steady_clock::now();
  int64_t end = 0;
  for (const Event& e : events) end = std::max(end, e.ts_ms);
  std::string ranker;
  json ranker_info = nullptr;
  if (o.train_ranker) {
    // The ranker learns what the base algorithms miss: trained on all but the newest days, their
    // candidates for those days' users are labelled by what those users then chose.
    const int64_t cut = end - o.ranker_days * kDayMs;
    std::vector<Event> before;
    std::unordered_map<uint32_t, std::unordered_set<uint32_t>> truth;
    for (const Event& e : events) {
      if (e.ts_ms <= cut) before.push_back(e);
      else truth[e.user].insert(e.item);
    }
    Model base = TrainBase(before, users, items, o, nullptr);
    auto rec = Recommender::Create(std::make_shared<const Model>(std::move(base)));
    if (!rec.ok()) return rec.status();
    const Model& bm = (*rec)->model();
    const auto histories = Histories(before, users);
    std::vector<uint32_t> who;
    for (const auto& [u, items_after] : truth) {
      if (!histories[u].items.empty()) who.push_back(u);
    }
    std::sort(who.begin(), who.end());
    if (who.size() > o.ranker_users) {
      // An even spread of users, the same on every run.
      std::vector<uint32_t> some;
      for (size_t k = 0; k < o.ranker_users; ++k) some.push_back(who[k * who.size() / o.ranker_users]);
      who.swap(some);
    }
    std::vector<Recommender::Pool> pools(who.size());
    ParallelFor(who.size(), o.threads, [&](size_t k, size_t) {
      const UserHistory& h = histories[who[k]];
      pools[k] = (*rec)->Candidates(h, (*rec)->Vectors(h), KnownItems(bm, o.exclude_consumed ? &h : nullptr), o.candidates);
    });
    std::vector<float> rows, labels;
    std::vector<unsigned> groups;
    size_t positives = 0;
    for (size_t k = 0; k < who.size(); ++k) {
      const auto& chosen = truth[who[k]];
      const auto& p = pools[k];
      size_t hits = 0;
      for (uint32_t i : p.items) hits += chosen.count(i);
      if (hits == 0) continue;  // a group with nothing to rank teaches nothing
      positives += hits;
      rows.insert(rows.end(), p.features.begin(), p.features.end());
      for (uint32_t i : p.items) labels.push_back(chosen.count(i) ? 1.f : 0.f);
      groups.push_back(static_cast<unsigned>(p.items.size()));
    }
    if (!groups.empty()) {
      RankerOptions ro = o.ranker;
      ro.threads = o.threads;
      const auto t = std::chrono::steady_clock::now();
      auto trained = TrainRanker(rows, kRankerFeatures, labels, groups, ro);
      if (!trained.ok()) return trained.status();
      ranker = std::move(*trained);
      ranker_info = {{"users", groups.size()}, {"rows", labels.size()}, {"positives", positives}, {"days", o.ranker_days},
                     {"candidates", o.candidates},
                     {"rounds", ro.rounds}, {"max_depth", ro.max_depth}, {"eta", ro.eta}, {"seconds", Since(t)}};
      if (say) {
        say("ranker: " + std::to_string(groups.size()) + " users, " + std::to_string(labels.size()) + " candidates, " +
            std::to_string(positives) + " chosen, " + Seconds(Since(t)));
      }
    } else if (say) {
      say("ranker: no user chose a candidate in the last " + std::to_string(o.ranker_days) + " days; not trained");
    }
  }
  Model m = TrainBase(events, users, items, o, say);
  m.ranker = std::move(ranker);
  m.info["ranker"] = ranker_info;
  m.info["train_seconds"] = Since(started);
  return m;
}

}  // namespace aimass::recsys
