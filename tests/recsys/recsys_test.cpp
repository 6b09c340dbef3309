// The recommendation algorithms on data small enough to know the answers: sparse matrices and
// sessions, cosine neighbours, co-occurrence, ALS and its fold-in, BPR, the ranking metrics, the
// model file (and its refusal of anything else), selection with filters and diversity, and the
// whole trainer with its ranker on a catalogue with a planted structure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "recsys/als.hpp"
#include "recsys/bpr.hpp"
#include "recsys/evaluation.hpp"
#include "recsys/neighbours.hpp"
#include "recsys/recommender.hpp"
#include "recsys/trainer.hpp"

namespace aimass::recsys {
namespace {

std::vector<Event> Pairs(std::initializer_list<std::pair<uint32_t, uint32_t>> ui) {
  std::vector<Event> out;
  int64_t t = 0;
  for (auto [u, i] : ui) out.push_back({u, i, 1.f, ++t, 0});
  return out;
}

TEST(Events, MatrixSumsRepeatsAndTransposes) {
  auto events = Pairs({{0, 1}, {0, 1}, {0, 2}, {1, 0}});
  Csr m = UserItemMatrix(events, 2, 3);
  ASSERT_EQ(m.nnz(), 3u);
  EXPECT_EQ(std::vector<uint32_t>(m.Columns(0).begin(), m.Columns(0).end()), (std::vector<uint32_t>{1, 2}));
  EXPECT_FLOAT_EQ(m.Values(0)[0], 2.f);
  Csr t = m.Transposed();
  EXPECT_EQ(t.rows, 3u);
  EXPECT_EQ(std::vector<uint32_t>(t.Columns(1).begin(), t.Columns(1).end()), (std::vector<uint32_t>{0}));
  EXPECT_FLOAT_EQ(t.Values(1)[0], 2.f);
}

TEST(Events, SessionsFromIdsOrFromGaps) {
  EventLog log;
  log.Add("a", "x", 1, 0);
  log.Add("a", "y", 1, 60'000);
  log.Add("a", "z", 1, 10 * 3'600'000);  // hours later: a new session
  log.Add("a", "w", 1, 10 * 3'600'000 + 1);
  log.Add("b", "x", 1, 5, "s1");
  log.Add("c", "y", 1, 6, "s1");  // one session id across users is one session
  auto sessions = Sessions(log.events, 30 * 60'000);
  ASSERT_EQ(sessions.size(), 3u);
  const uint32_t x = 0, y = 1, z = 2, w = 3;
  EXPECT_EQ(sessions[0], (std::vector<uint32_t>{x, y}));
  EXPECT_EQ(sessions[1], (std::vector<uint32_t>{z, w}));
  EXPECT_EQ(sessions[2], (std::vector<uint32_t>{x, y}));
}

TEST(ItemKnn, CosineOfUserSetsWithShrink) {
  // Items 0 and 1 share two of their users, 0 and 2 one.
  auto events = Pairs({{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 2}, {3, 2}});
  Csr m = UserItemMatrix(events, 4, 3);
  Neighbours n = TrainItemKnn(m, 10, 0.f, 2);
  ASSERT_EQ(n.Items(0).size(), 2u);
  EXPECT_EQ(n.Items(0)[0], 1u);
  EXPECT_NEAR(n.Scores(0)[0], 2 / std::sqrt(3.f * 2.f), 1e-6);
  EXPECT_NEAR(n.Scores(0)[1], 1 / std::sqrt(3.f * 2.f), 1e-6);
  Neighbours shrunk = TrainItemKnn(m, 1, 10.f, 1);
  ASSERT_EQ(shrunk.Items(0).size(), 1u);
  EXPECT_NEAR(shrunk.Scores(0)[0], 2 / (std::sqrt(6.f) + 10.f), 1e-6);
}

TEST(Cooccurrence, SuccessorsCountMoreThanPredecessors) {
  Neighbours n = TrainCooccurrence({{0, 1, 2}, {0, 1}}, 3, 5, 10);
  ASSERT_FALSE(n.Items(0).empty());
  EXPECT_EQ(n.Items(0)[0], 1u);
  EXPECT_FLOAT_EQ(n.Scores(0)[0], 2.f);    // 0 then 1, twice, adjacent
  EXPECT_FLOAT_EQ(n.Scores(0)[1], 0.5f);   // 0 then 2, two apart
  // After 1: 2 once (1.0); before 1: 0 twice at half weight (1.0). Equal scores: lower id first.
  ASSERT_EQ(n.Items(1).size(), 2u);
  EXPECT_EQ(n.Items(1)[0], 0u);
  EXPECT_EQ(n.Items(1)[1], 2u);
  EXPECT_FLOAT_EQ(n.Scores(1)[1], 1.f);
}

// Two groups of users who each buy within their own half of the catalogue, in visits of four
// items a minute apart; every user visits once in each of two rounds, an hour per user apart.
std::vector<Event> TwoTastes(size_t users, size_t items, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Event> out;
  std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(items / 2 - 1));
  for (int64_t round = 0; round < 2; ++round) {
    for (uint32_t u = 0; u < users; ++u) {
      const uint32_t half = u % 2;
      const int64_t visit = (round * static_cast<int64_t>(users) + u) * 3'600'000;
      for (int k = 0; k < 4; ++k) out.push_back({u, half * static_cast<uint32_t>(items / 2) + pick(rng), 1.f, visit + k * 60'000, 0});
    }
  }
  return out;
}

TEST(Als, LearnsTheTwoTastesAndFoldInAgreesWithTraining) {
  auto events = TwoTastes(200, 40, 1);
  Csr m = UserItemMatrix(events, 200, 40);
  AlsOptions o;
  o.factors = 8;
  o.iterations = 10;
  o.threads = 2;
  Factors users;
  Factors items = TrainAls(m, o, &users);
  // A user of the first half scores its items above the other half's.
  auto score = [&](const float* x, uint32_t i) {
    float s = 0;
    for (size_t f = 0; f < items.dim; ++f) s += x[f] * items.Row(i)[f];
    return s;
  };
  double same = 0, other = 0;
  for (uint32_t i = 0; i < 20; ++i) same += score(users.Row(0), i);
  for (uint32_t i = 20; i < 40; ++i) other += score(users.Row(0), i);
  EXPECT_GT(same, other + 5);
  // Folding user 0's history in against the trained items gives about the trained factors.
  std::vector<uint32_t> h(m.Columns(0).begin(), m.Columns(0).end());
  std::vector<float> w(m.Values(0).begin(), m.Values(0).end());
  std::vector<float> x(items.dim);
  FoldInAls(items, Gram(items), o.regularization, o.alpha, h, w, x.data());
  double dot = 0, nx = 0, nu = 0;
  for (size_t f = 0; f < items.dim; ++f) {
    dot += x[f] * users.Row(0)[f];
    nx += x[f] * x[f];
    nu += users.Row(0)[f] * users.Row(0)[f];
  }
  EXPECT_GT(dot / std::sqrt(nx * nu), 0.95);
}

TEST(Bpr, RanksTheUsersHalfFirst) {
  auto events = TwoTastes(200, 40, 2);
  Csr m = UserItemMatrix(events, 200, 40);
  BprOptions o;
  o.factors = 8;
  o.epochs = 60;
  o.threads = 1;
  Factors items;
  std::vector<float> bias;
  TrainBpr(m, o, items, bias);
  std::vector<uint32_t> h = {1, 2, 3};
  std::vector<float> x(items.dim);
  FoldInBpr(items, bias, o.regularization, h, x.data());
  auto score = [&](uint32_t i) {
    float s = bias[i];
    for (size_t f = 0; f < items.dim; ++f) s += x[f] * items.Row(i)[f];
    return s;
  };
  double same = 0, other = 0;
  for (uint32_t i = 0; i < 20; ++i) same += score(i);
  for (uint32_t i = 20; i < 40; ++i) other += score(i);
  EXPECT_GT(same, other);
  // The same history folds in to the same vector.
  std::vector<float> again(items.dim);
  FoldInBpr(items, bias, o.regularization, h, again.data());
  EXPECT_EQ(x, again);
}

TEST(Metrics, KnownValues) {
  RankingMetrics m;
  m.Add({5, 1, 7}, {1, 7, 9}, 3);  // hits at ranks 2 and 3 of 3
  EXPECT_NEAR(m.precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(m.recall, 2.0 / 3, 1e-12);
  const double dcg = 1 / std::log2(3.0) + 1 / std::log2(4.0);
  const double idcg = 1 + 1 / std::log2(3.0) + 1 / std::log2(4.0);
  EXPECT_NEAR(m.ndcg, dcg / idcg, 1e-12);
  EXPECT_NEAR(m.map, (1.0 / 2 + 2.0 / 3) / 3, 1e-12);
  EXPECT_EQ(m.hit_rate, 1);
  m.Add({4}, {8}, 3);
  EXPECT_EQ(m.users, 2u);
  auto j = m.Json(10, 4);
  EXPECT_NEAR(j["hit_rate"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(j["coverage"].get<double>(), 0.4, 1e-12);
}

TEST(TopN, FilterAndAtMostKPerGroup) {
  std::vector<float> scores = {9, 8, 7, 6, 5, 4, Recommender::kNone};
  Filter f;
  f.keep = [](uint32_t i) { return i != 1; };
  EXPECT_EQ(TopN(scores, 3, f), (std::vector<uint32_t>{0, 2, 3}));
  f.group = [](uint32_t i) { return i < 3 ? 0u : 1u; };
  f.max_per_group = 1;
  EXPECT_EQ(TopN(scores, 3, f), (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(TopN(scores, 10, Filter{}).size(), 6u);  // never an item without a score
}

Model Trained(uint64_t seed) {
  EventLog log;
  // 300 users in two tastes, two visits each (TwoTastes).
  auto events = TwoTastes(300, 60, seed);
  TrainOptions o;
  o.als.factors = o.bpr.factors = 8;
  o.als.iterations = 5;
  o.bpr.epochs = 10;
  o.ranker.rounds = 20;
  o.ranker_days = 5;
  o.threads = 1;  // BPR's lock-free threads make runs differ: the same model on every run
  std::vector<std::string> names;
  for (int i = 0; i < 60; ++i) names.push_back("item" + std::to_string(i));
  auto m = Train(events, 300, names, o, nullptr);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::move(*m);
}

TEST(Model, RoundTripsAndRefusesAnythingElse) {
  Model m = Trained(3);
  ASSERT_FALSE(m.ranker.empty());
  std::string bytes = SerializeModel(m);
  auto back = ParseModel(bytes);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->items, m.items);
  EXPECT_EQ(back->als.data, m.als.data);
  EXPECT_EQ(back->knn.items, m.knn.items);
  EXPECT_EQ(back->ranker, m.ranker);
  EXPECT_EQ(SerializeModel(*back), bytes);
  EXPECT_FALSE(ParseModel("").ok());
  EXPECT_FALSE(ParseModel("AIMASS-REC1\n").ok());
  EXPECT_FALSE(ParseModel(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(ParseModel(bytes + "x").ok());
  std::string wrong = bytes;
  wrong[0] = 'B';
  EXPECT_EQ(ParseModel(wrong).status().code(), Code::kUnprocessable);
}

TEST(Recommender, EveryAlgorithmAnswersWithinTheUsersTasteAndExplains) {
  Model m = Trained(4);
  auto rec = Recommender::Create(std::make_shared<const Model>(m));
  ASSERT_TRUE(rec.ok());
  ASSERT_TRUE((*rec)->has(Source::kRanker));
  UserHistory h;
  for (uint32_t i : {1u, 2u, 3u, 4u}) h.items.push_back({i, 1.f, 1000});
  h.recent = {1, 2, 3, 4};
  for (Source s : {Source::kItemKnn, Source::kAls, Source::kBpr, Source::kSession, Source::kRanker}) {
    auto out = (*rec)->Recommend(s, h, 5, KnownItems((*rec)->model(), &h));
    ASSERT_EQ(out.size(), 5u) << SourceName(s);
    size_t mine = 0;
    for (const auto& c : out) {
      EXPECT_TRUE(c.item == 0 || c.item >= 5) << "consumed items are excluded";
      mine += c.item < 30;
    }
    EXPECT_GE(mine, 4u) << SourceName(s) << " strays from the user's half";
    if (s == Source::kItemKnn || s == Source::kAls) {
      EXPECT_GE(out[0].because, 1) << SourceName(s);
      EXPECT_LE(out[0].because, 4) << SourceName(s);
    }
  }
  auto similar = (*rec)->Similar(10, 5, {});
  ASSERT_EQ(similar.size(), 5u);
  for (const auto& c : similar) EXPECT_LT(c.item, 30u);
  auto next = (*rec)->Next(std::vector<uint32_t>{40, 41}, 3, {});
  ASSERT_EQ(next.size(), 3u);
  EXPECT_GE(next[0].item, 30u);
}

TEST(Evaluation, TheLearnedAlgorithmsBeatPopularityOnPlantedTastes) {
  auto events = TwoTastes(400, 80, 5);
  std::vector<std::string> names;
  for (int i = 0; i < 80; ++i) names.push_back("i" + std::to_string(i));
  EvaluationOptions o;
  int64_t last = 0;
  for (const auto& e : events) last = std::max(last, e.ts_ms);
  o.split_ms = last * 3 / 4;  // the second round's later half is the truth
  o.k = 5;
  o.train.als.factors = o.train.bpr.factors = 8;
  o.train.ranker.rounds = 20;
  o.train.ranker_days = 5;
  o.train.threads = 2;
  o.train.exclude_consumed = true;
  auto table = EvaluateTimeSplit(events, 400, names, o, nullptr);
  ASSERT_TRUE(table.ok()) << table.status().message();
  double popular = 0, als = 0;
  for (const auto& row : (*table)["algorithms"]) {
    if (row["name"] == "popular") popular = row["ndcg"];
    if (row["name"] == "als") als = row["ndcg"];
  }
  EXPECT_GT(als, 1.5 * popular) << table->dump();
  o.split_ms = 0;
  EXPECT_EQ(EvaluateTimeSplit(events, 400, names, o, nullptr).status().code(), Code::kBadRequest);
}

}  // namespace
}  // namespace aimass::recsys
