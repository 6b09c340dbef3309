#include "recsys/recommender.hpp"

#include <xgboost/c_api.h>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "recsys/als.hpp"
#include "recsys/bpr.hpp"

namespace aimass::recsys {

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kDayMs = 86'400'000.0;
constexpr size_t kMaxHistory = 500;  // fold-ins and explanations read the newest this many items
constexpr size_t kSessionItems = 5;  // a session's newest items that predict the next

float Dot(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// The time of a history's newest feedback.
int64_t Newest(const UserHistory& h) {
  int64_t t = 0;
  for (const auto& it : h.items) t = std::max(t, it.last_ms);
  return t;
}

// The newest items of a history (for fold-ins and explanations): heavy users stay cheap.
std::vector<const HistoryItem*> NewestItems(const UserHistory& h) {
  std::vector<const HistoryItem*> out;
  out.reserve(h.items.size());
  for (const auto& it : h.items) out.push_back(&it);
  if (out.size() > kMaxHistory) {
    std::nth_element(out.begin(), out.begin() + kMaxHistory, out.end(),
                     [](const auto* a, const auto* b) { return a->last_ms > b->last_ms; });
    out.resize(kMaxHistory);
  }
  return out;
}

// out = F·x (+ bias): every item's score at once (Eigen vectorises what a loop of dot products,
// without -ffast-math, would not).
void MatVec(const Factors& f, const float* x, const float* bias, float* out) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const Mat> m(f.data.data(), static_cast<Eigen::Index>(f.rows), static_cast<Eigen::Index>(f.dim));
  Eigen::Map<const Eigen::VectorXf> v(x, static_cast<Eigen::Index>(f.dim));
  Eigen::Map<Eigen::VectorXf> o(out, static_cast<Eigen::Index>(f.rows));
  o.noalias() = m * v;
  if (bias) o += Eigen::Map<const Eigen::VectorXf>(bias, static_cast<Eigen::Index>(f.rows));
}

// The n best scores among the items `allowed` marks, best first (ties: lower item first): one
// pass keeping the n best in a heap whose root is the worst kept, so most items cost one compare.
std::vector<uint32_t> TopAllowed(const std::vector<float>& scores, size_t n, const std::vector<uint8_t>& allowed) {
  auto better = [](const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  if (n == 0) return {};
  std::vector<std::pair<float, uint32_t>> heap;
  heap.reserve(n + 1);
  for (uint32_t i = 0; i < scores.size(); ++i) {
    const float x = scores[i];
    if (!(x > Recommender::kNone) || !allowed[i]) continue;
    if (heap.size() == n) {
      if (!better({x, i}, heap.front())) continue;
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = {x, i};
    } else {
      heap.emplace_back(x, i);
    }
    std::push_heap(heap.begin(), heap.end(), better);
  }
  std::sort(heap.begin(), heap.end(), better);
  std::vector<uint32_t> out;
  out.reserve(heap.size());
  for (const auto& [score, i] : heap) out.push_back(i);
  return out;
}

}  // namespace

std::string_view SourceName(Source s) {
  switch (s) {
    case Source::kPopular: return "popular";
    case Source::kRecent: return "recent";
    case Source::kHistory: return "history";
    case Source::kItemKnn: return "item_knn";
    case Source::kAls: return "als";
    case Source::kBpr: return "bpr";
    case Source::kSession: return "session";
    case Source::kRanker: return "ranker";
  }
  return "?";
}

std::optional<Source> SourceNamed(std::string_view name) {
  for (Source s : kBaseSources) {
    if (SourceName(s) == name) return s;
  }
  if (name == "ranker") return Source::kRanker;
  return std::nullopt;
}

std::vector<uint32_t> TopN(const std::vector<float>& scores, size_t n, const Filter& f) {
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < scores.size(); ++i) {
    if (scores[i] > Recommender::kNone && (!f.keep || f.keep(i))) order.push_back(i);
  }
  auto better = [&](uint32_t a, uint32_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; };
  // With a group limit some of the best are skipped, so more than n are ordered.
  const size_t want = f.max_per_group ? std::min(order.size(), n * 8 + 64) : std::min(order.size(), n);
  std::partial_sort(order.begin(), order.begin() + want, order.end(), better);
  if (f.max_per_group == 0 || !f.group) {
    order.resize(want);
    return order;
  }
  std::vector<uint32_t> out;
  std::unordered_map<uint32_t, size_t> per_group;
  for (size_t k = 0; k < order.size() && out.size() < n; ++k) {
    if (k == want) std::sort(order.begin() + want, order.end(), better);  // the rare case that needs them all
    if (++per_group[f.group(order[k])] <= f.max_per_group) out.push_back(order[k]);
  }
  return out;
}

Recommender::Recommender(std::shared_ptr<const Model> model) : model_(std::move(model)) {}

Recommender::~Recommender() {
  if (booster_) XGBoosterFree(static_cast<BoosterHandle>(booster_));
}

Result<std::unique_ptr<Recommender>> Recommender::Create(std::shared_ptr<const Model> model) {
  std::unique_ptr<Recommender> r(new Recommender(std::move(model)));
  if (r->model_->als.dim) r->als_gram_ = Gram(r->model_->als);
  // The scores that do not depend on the user, once.
  const Model& m = *r->model_;
  r->popular_.assign(m.size(), kNone);
  r->recent_.assign(m.size(), kNone);
  for (size_t i = 0; i < m.size(); ++i) {
    r->popular_[i] = std::log1p(m.popularity[i]);
    if (m.recent[i] > 0) r->recent_[i] = std::log1p(m.recent[i]) + 1e-3f * r->popular_[i];
  }
  if (!r->model_->ranker.empty()) {
    BoosterHandle b = nullptr;
    if (XGBoosterCreate(nullptr, 0, &b) != 0 ||
        XGBoosterLoadModelFromBuffer(b, r->model_->ranker.data(), r->model_->ranker.size()) != 0) {
      std::string err = XGBGetLastError();
      if (b) XGBoosterFree(b);
      return Status::Unprocessable("recommend model: the ranker does not load: " + err.substr(0, 200));
    }
    // One answer is a few hundred rows: threads would cost more than they save.
    XGBoosterSetParam(b, "nthread", "1");
    r->booster_ = b;
    const nlohmann::json& info = r->model_->info;
    if (info.contains("ranker") && info["ranker"].is_object() && info["ranker"].contains("candidates") &&
        info["ranker"]["candidates"].is_number_unsigned()) {
      r->ranker_candidates_ = std::clamp<size_t>(info["ranker"]["candidates"].get<size_t>(), 1, 1000);
    }
  }
  return r;
}

bool Recommender::has(Source s) const {
  switch (s) {
    case Source::kAls: return model_->als.dim > 0;
    case Source::kBpr: return model_->bpr.dim > 0;
    case Source::kRanker: return booster_ != nullptr;
    default: return true;
  }
}

UserVectors Recommender::Vectors(const UserHistory& h) const {
  UserVectors v;
  const auto newest = NewestItems(h);
  std::vector<uint32_t> items;
  std::vector<float> weights;
  for (const auto* it : newest) {
    items.push_back(it->item);
    weights.push_back(it->weight);
  }
  if (model_->als.dim) {
    v.als.resize(model_->als.dim);
    FoldInAls(model_->als, als_gram_, model_->als_regularization, model_->als_alpha, items, weights, v.als.data());
  }
  if (model_->bpr.dim) {
    v.bpr.resize(model_->bpr.dim);
    FoldInBpr(model_->bpr, model_->bpr_bias, model_->bpr_regularization, items, v.bpr.data());
  }
  return v;
}

void Recommender::Scores(Source s, const UserHistory& h, const UserVectors& v, std::vector<float>& out) const {
  // The user-independent scores are copied as they are; the others start from kNone.
  if (s == Source::kPopular || s == Source::kRecent) {
    out = s == Source::kPopular ? popular_ : recent_;
    return;
  }
  const Model& m = *model_;
  out.assign(m.size(), kNone);
  switch (s) {
    case Source::kPopular:
    case Source::kRecent:
      break;
    case Source::kHistory: {
      // What the user chose before, most for the most chosen and the most recent. Time is
      // measured back from the user's newest feedback, so that old logs score as they did then.
      const int64_t newest = Newest(h);
      for (const auto& it : h.items) {
        const double days = std::max<double>(0, (newest - it.last_ms) / kDayMs);
        out[it.item] = std::log1p(it.weight) * static_cast<float>(std::exp(-days / 90.0));
      }
      break;
    }
    case Source::kItemKnn:
      for (const auto& it : h.items) {
        const float w = std::log1p(it.weight);
        const auto items = m.knn.Items(it.item);
        const auto sims = m.knn.Scores(it.item);
        for (size_t k = 0; k < items.size(); ++k) out[items[k]] = (out[items[k]] == kNone ? 0 : out[items[k]]) + w * sims[k];
      }
      break;
    case Source::kAls:
      if (!v.als.empty() && !h.items.empty()) MatVec(m.als, v.als.data(), nullptr, out.data());
      break;
    case Source::kBpr:
      if (!v.bpr.empty() && !h.items.empty()) MatVec(m.bpr, v.bpr.data(), m.bpr_bias.data(), out.data());
      break;
    case Source::kSession: {
      // The newest items count most; each one's successors normalised by its best.
      float decay = 1;
      const size_t from = h.recent.size() > kSessionItems ? h.recent.size() - kSessionItems : 0;
      for (size_t k = h.recent.size(); k-- > from; decay *= 0.7f) {
        const auto items = m.cooc.Items(h.recent[k]);
        const auto counts = m.cooc.Scores(h.recent[k]);
        if (items.empty()) continue;
        for (size_t j = 0; j < items.size(); ++j) {
          out[items[j]] = (out[items[j]] == kNone ? 0 : out[items[j]]) + decay * counts[j] / counts[0];
        }
      }
      break;
    }
    case Source::kRanker:
      break;
  }
}

int64_t Recommender::Because(Source s, uint32_t item, const UserHistory& h) const {
  const Model& m = *model_;
  int64_t best = -1;
  float best_score = 0;
  auto consider = [&](uint32_t j, float score) {
    if (j != item && score > best_score) {
      best = j;
      best_score = score;
    }
  };
  switch (s) {
    case Source::kItemKnn:
      for (const auto* it : NewestItems(h)) {
        const auto items = m.knn.Items(it->item);
        for (size_t k = 0; k < items.size(); ++k) {
          if (items[k] == item) consider(it->item, std::log1p(it->weight) * m.knn.Scores(it->item)[k]);
        }
      }
      break;
    case Source::kSession:
      for (uint32_t j : h.recent) {
        const auto items = m.cooc.Items(j);
        for (size_t k = 0; k < items.size(); ++k) {
          if (items[k] == item) consider(j, m.cooc.Scores(j)[k]);
        }
      }
      break;
    case Source::kAls:
    case Source::kBpr: {
      const Factors& f = s == Source::kAls ? m.als : m.bpr;
      if (!f.dim) break;
      for (const auto* it : NewestItems(h)) consider(it->item, Dot(f.Row(it->item), f.Row(item), f.dim));
      break;
    }
    default:
      break;
  }
  return best;
}

Recommender::Pool Recommender::Candidates(const UserHistory& h, const UserVectors& v, const Filter& f,
                                          size_t per_source) const {
  constexpr size_t kSources = std::size(kBaseSources);
  // Scratch reused by each thread: a few vectors the size of the catalogue per answer would
  // otherwise be most of an answer's cost in malloc and free.
  thread_local std::vector<std::vector<float>> scores;
  scores.resize(kSources);
  for (auto& v : scores) v.clear();
  std::unordered_map<uint32_t, std::pair<size_t, float>> pool;  // item → (row, its best normalised rank)
  Pool out;
  // The filter asked once per item, not once per item and source.
  thread_local std::vector<uint8_t> allowed;
  allowed.assign(model_->size(), 1);
  if (f.keep) {
    for (uint32_t i = 0; i < allowed.size(); ++i) allowed[i] = f.keep(i);
  }
  std::vector<std::vector<uint32_t>> tops(kSources);
  for (size_t s = 0; s < kSources; ++s) {
    if (!has(kBaseSources[s])) continue;
    Scores(kBaseSources[s], h, v, scores[s]);
    tops[s] = TopAllowed(scores[s], per_source, allowed);
    for (size_t r = 0; r < tops[s].size(); ++r) {
      auto [it, added] = pool.try_emplace(tops[s][r], out.items.size(), 0.f);
      if (added) {
        out.items.push_back(tops[s][r]);
        out.source.push_back(kBaseSources[s]);
      }
      const float rank = 1.f / (1.f + r);
      if (rank > it->second.second) {
        it->second.second = rank;
        out.source[it->second.first] = kBaseSources[s];
      }
    }
  }
  const size_t rows = out.items.size();
  out.features.assign(rows * kRankerFeatures, kNaN);
  std::unordered_map<uint32_t, const HistoryItem*> mine;
  for (const auto& it : h.items) mine.emplace(it.item, &it);
  const float history_size = std::log1p(static_cast<float>(h.items.size()));
  const int64_t newest = Newest(h);
  for (size_t s = 0; s < kSources; ++s) {
    if (scores[s].empty()) continue;
    for (size_t r = 0; r < rows; ++r) {
      const float x = scores[s][out.items[r]];
      if (x > kNone) out.features[r * kRankerFeatures + 2 * s] = x;
      out.features[r * kRankerFeatures + 2 * s + 1] = 0;
    }
    for (size_t r = 0; r < tops[s].size(); ++r) out.features[pool[tops[s][r]].first * kRankerFeatures + 2 * s + 1] = 1.f / (1.f + r);
  }
  for (size_t r = 0; r < rows; ++r) {
    float* row = out.features.data() + r * kRankerFeatures + 2 * kSources;
    row[0] = history_size;
    auto it = mine.find(out.items[r]);
    if (it != mine.end()) row[1] = static_cast<float>((newest - it->second->last_ms) / kDayMs);
    row[2] = static_cast<float>((model_->trained_until_ms - model_->last_seen_ms[out.items[r]]) / kDayMs);
  }
  return out;
}

std::vector<Candidate> Recommender::Ranked(const UserHistory& h, const UserVectors& v, size_t n,
                                           const Filter& f) const {
  // As many candidates from each algorithm as the ranker was trained on.
  Pool pool = Candidates(h, v, f, std::max(ranker_candidates_, n));
  const size_t rows = pool.items.size();
  thread_local std::vector<float> score;
  score.assign(model_->size(), kNone);
  if (rows) {
    // In-place prediction from the features' memory: no DMatrix built per answer (that and its
    // freeing cost more than the trees).
    char array[160];
    std::snprintf(array, sizeof array, R"({"data":[%zu,true],"shape":[%zu,%zu],"typestr":"<f4","version":3})",
                  reinterpret_cast<size_t>(pool.features.data()), rows, kRankerFeatures);
    static constexpr const char* kConfig =
        R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false,"missing":NaN,"cache_id":0})";
    const bst_ulong* shape = nullptr;
    bst_ulong dims = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(static_cast<BoosterHandle>(booster_), array, kConfig, nullptr, &shape, &dims, &result) == 0 &&
        dims >= 1 && shape[0] == rows) {
      for (size_t r = 0; r < rows; ++r) score[pool.items[r]] = result[r];
    }
  }
  std::vector<Candidate> out;
  std::unordered_map<uint32_t, Source> source;
  for (size_t r = 0; r < rows; ++r) source.emplace(pool.items[r], pool.source[r]);
  for (uint32_t i : TopN(score, n, f)) {
    const Source s = source[i];
    out.push_back({i, score[i], s, Because(s, i, h)});
  }
  return out;
}

std::vector<Candidate> Recommender::Recommend(Source s, const UserHistory& h, size_t n, const Filter& f,
                                              const UserVectors* known) const {
  if (!has(s)) return {};
  const UserVectors v = known ? *known : NeedsVectors(s) ? Vectors(h) : UserVectors{};
  if (s == Source::kRanker) return Ranked(h, v, n, f);
  std::vector<float> scores;
  Scores(s, h, v, scores);
  std::vector<Candidate> out;
  for (uint32_t i : TopN(scores, n, f)) out.push_back({i, scores[i], s, Because(s, i, h)});
  return out;
}

std::vector<Candidate> Recommender::Similar(uint32_t item, size_t n, const Filter& f) const {
  const Model& m = *model_;
  std::vector<float> score(m.size(), kNone);
  std::vector<Source> source(m.size(), Source::kItemKnn);
  const auto knn = m.knn.Items(item);
  for (size_t k = 0; k < knn.size(); ++k) score[knn[k]] = m.knn.Scores(item)[k];
  const auto cooc = m.cooc.Items(item);
  for (size_t k = 0; k < cooc.size(); ++k) {
    const float c = 0.5f * m.cooc.Scores(item)[k] / m.cooc.Scores(item)[0];
    const float before = score[cooc[k]] == kNone ? 0 : score[cooc[k]];
    if (c > before) source[cooc[k]] = Source::kSession;
    score[cooc[k]] = before + c;
  }
  score[item] = kNone;
  std::vector<Candidate> out;
  for (uint32_t i : TopN(score, n, f)) out.push_back({i, score[i], source[i], item});
  return out;
}

std::vector<Candidate> Recommender::Next(std::span<const uint32_t> session, size_t n, const Filter& f) const {
  UserHistory h;
  h.recent.assign(session.begin(), session.end());
  std::vector<float> scores;
  Scores(Source::kSession, h, {}, scores);
  for (uint32_t j : session) scores[j] = kNone;
  std::vector<Candidate> out;
  for (uint32_t i : TopN(scores, n, f)) out.push_back({i, scores[i], Source::kSession, Because(Source::kSession, i, h)});
  // When sessions seldom went on from here: the last item's neighbours, then popular items.
  auto fill = [&](std::vector<float> more, Source source, int64_t because) {
    if (out.size() >= n) return;
    for (uint32_t j : session) more[j] = kNone;
    for (const auto& c : out) more[c.item] = kNone;
    for (uint32_t i : TopN(more, n - out.size(), f)) out.push_back({i, more[i], source, because});
  };
  if (!session.empty()) {
    std::vector<float> knn(model_->size(), kNone);
    const auto items = model_->knn.Items(session.back());
    for (size_t k = 0; k < items.size(); ++k) knn[items[k]] = model_->knn.Scores(session.back())[k];
    fill(std::move(knn), Source::kItemKnn, session.back());
  }
  std::vector<float> pop;
  Scores(Source::kPopular, h, {}, pop);
  fill(std::move(pop), Source::kPopular, -1);
  return out;
}

}  // namespace aimass::recsys
