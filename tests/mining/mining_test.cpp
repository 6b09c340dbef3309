// The mining algorithms against what they must find: k-means recovers planted centres and
// matches a brute-force assignment, DBSCAN separates dense groups from noise with eps included,
// FP-growth, the rules and PrefixSpan equal brute-force counts over the same transactions and
// sequences exactly, the silhouette equals its definition worked by hand, the isolation forest
// ranks planted outliers first, and the projection finds a line's direction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "mining/dbscan.hpp"
#include "mining/fp_growth.hpp"
#include "mining/isolation_forest.hpp"
#include "mining/kmeans.hpp"
#include "mining/prefix_span.hpp"
#include "mining/projection.hpp"
#include "mining/silhouette.hpp"

namespace aimass::mining {
namespace {

// Gaussian blobs of `per` points around `centres` (each d long), standard deviation `sd`.
Points Blobs(const std::vector<std::vector<double>>& centres, size_t per, double sd, uint64_t seed, std::vector<int>* truth = nullptr) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, sd);
  Points p;
  p.d = centres[0].size();
  for (size_t c = 0; c < centres.size(); ++c) {
    for (size_t i = 0; i < per; ++i) {
      for (double v : centres[c]) p.x.push_back(v + noise(rng));
      if (truth) truth->push_back(static_cast<int>(c));
    }
  }
  p.n = p.x.size() / p.d;
  return p;
}

const std::vector<std::vector<double>> kCentres = {{0, 0, 0}, {10, 0, 5}, {0, 10, -5}, {8, 8, 8}};

TEST(KMeans, FindsPlantedCentresAndItsInertiaIsTheSumOfSquaredDistances) {
  std::vector<int> truth;
  Points p = Blobs(kCentres, 500, 1.0, 1, &truth);
  for (std::string init : {"k-means++", "random"}) {
    KMeansOptions o;
    o.k = 4;
    o.init = init;
    o.n_init = 3;
    o.seed = 7;
    auto r = KMeans(p, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    // Each planted centre has a centroid within 0.2 of it, and each cluster holds one blob.
    for (const auto& c : kCentres) {
      double best = INFINITY;
      for (int j = 0; j < 4; ++j) best = std::min(best, SquaredDistance(c.data(), r->centroids.data() + j * 3, 3));
      EXPECT_LT(std::sqrt(best), 0.2) << init;
    }
    std::map<int, std::set<int>> blobs_of;
    for (size_t i = 0; i < p.n; ++i) blobs_of[r->labels[i]].insert(truth[i]);
    EXPECT_EQ(blobs_of.size(), 4u);
    for (const auto& [l, b] : blobs_of) EXPECT_EQ(b.size(), 1u) << init;
    EXPECT_EQ(r->sizes, (std::vector<int64_t>{500, 500, 500, 500}));
    double inertia = 0;
    for (size_t i = 0; i < p.n; ++i) {
      // Each label is the nearest centroid (brute force), and the inertia adds up.
      double nearest = INFINITY;
      for (int j = 0; j < 4; ++j) nearest = std::min(nearest, SquaredDistance(p.row(i), r->centroids.data() + j * 3, 3));
      const double own = SquaredDistance(p.row(i), r->centroids.data() + r->labels[i] * 3, 3);
      EXPECT_NEAR(own, nearest, 1e-9);
      inertia += own;
    }
    EXPECT_NEAR(r->inertia, inertia, 1e-6 * inertia);
  }
}

TEST(KMeans, TheSameSeedGivesTheSameClustersAndMoreRunsNeverAWorseOne) {
  Points p = Blobs({{0, 0}, {3, 0}, {0, 3}, {3, 3}, {1.5, 1.5}}, 200, 1.0, 2);
  KMeansOptions o;
  o.k = 5;
  o.seed = 3;
  auto a = KMeans(p, o), b = KMeans(p, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->labels, b->labels);
  EXPECT_EQ(a->inertia, b->inertia);
  o.n_init = 8;
  auto many = KMeans(p, o);
  ASSERT_TRUE(many.ok());
  EXPECT_LE(many->inertia, a->inertia + 1e-9);
  o.threads = 1;
  auto one = KMeans(p, o);
  ASSERT_TRUE(one.ok());
  EXPECT_NEAR(one->inertia, many->inertia, 1e-6 * many->inertia);
}

TEST(KMeans, MiniBatchComesWithinTwoPercentOfLloyd) {
  Points p = Blobs(kCentres, 5000, 1.5, 4);
  KMeansOptions o;
  o.k = 4;
  o.seed = 1;
  auto full = KMeans(p, o);
  o.mini_batch = true;
  o.batch_size = 256;
  auto mini = KMeans(p, o);
  ASSERT_TRUE(full.ok() && mini.ok());
  EXPECT_LT(mini->inertia, full->inertia * 1.02);
  EXPECT_GT(mini->iterations, 10);
}

TEST(KMeans, RefusesWhatCannotBeClustered) {
  Points p = Blobs({{0, 0}}, 3, 1.0, 5);
  KMeansOptions o;
  o.k = 4;
  EXPECT_EQ(KMeans(p, o).status().code(), Code::kBadRequest);
  o.k = 0;
  EXPECT_EQ(KMeans(p, o).status().code(), Code::kBadRequest);
  o.k = 2;
  o.init = "best";
  EXPECT_EQ(KMeans(p, o).status().code(), Code::kBadRequest);
}

TEST(Silhouette, EqualsTheDefinitionWorkedByHand) {
  // 1-D: {0, 1} and {10, 12}. s(0) = (11 − 1)/11, s(1) = (10 − 1)/10, s(10) = (9.5 − 2)/9.5,
  // s(12) = (11.5 − 2)/11.5.
  Points p;
  p.n = 4, p.d = 1, p.x = {0, 1, 10, 12};
  const double want = ((10.0 / 11) + (9.0 / 10) + (7.5 / 9.5) + (9.5 / 11.5)) / 4;
  auto s = Silhouette(p, {0, 0, 1, 1}, 0, 0, 2);
  ASSERT_TRUE(s.has_value());
  EXPECT_NEAR(*s, want, 1e-12);
  // Noise is left out; one cluster has no silhouette.
  p.n = 5, p.x.push_back(100);
  EXPECT_NEAR(*Silhouette(p, {0, 0, 1, 1, -1}, 0, 0, 1), want, 1e-12);
  EXPECT_FALSE(Silhouette(p, {0, 0, 0, 0, -1}, 0, 0, 1).has_value());
  // A sample is a subset: the score of a sample of all points is the score.
  EXPECT_NEAR(*Silhouette(p, {0, 0, 1, 1, -1}, 4, 9, 1), want, 1e-12);
}

TEST(Dbscan, SeparatesDenseGroupsFromNoiseAndCountsEpsItselfAsNear) {
  Points p = Blobs({{0, 0}, {20, 20}}, 100, 0.5, 6);
  // Three lone points far from everything.
  for (double v : {50.0, -50.0, 100.0}) p.x.push_back(v), p.x.push_back(-v), ++p.n;
  DbscanOptions o;
  o.eps = 1.0;
  o.min_samples = 5;
  auto r = Dbscan(p, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->clusters, 2);
  EXPECT_EQ(r->labels[p.n - 1], -1);
  EXPECT_EQ(r->labels[p.n - 2], -1);
  EXPECT_EQ(r->labels[p.n - 3], -1);
  // Almost all of a blob is in one cluster, and the blobs are apart.
  std::map<int, int> first, second;
  for (size_t i = 0; i < 100; ++i) first[r->labels[i]]++;
  for (size_t i = 100; i < 200; ++i) second[r->labels[i]]++;
  EXPECT_GE(first[0], 95);
  EXPECT_GE(second[1], 95);
  // Points exactly eps apart are neighbours: 0, 1, 2, 3 on a line with eps 1 and min_samples 3
  // make one cluster (1 and 2 are core); a fifth point 1.5 away is noise.
  Points line;
  line.d = 1, line.n = 5, line.x = {0, 1, 2, 3, 4.5};
  o.min_samples = 3;
  auto l = Dbscan(line, o);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->labels, (std::vector<int>{0, 0, 0, 0, -1}));
  EXPECT_EQ(l->core, 2u);
  o.eps = 0;
  EXPECT_EQ(Dbscan(line, o).status().code(), Code::kBadRequest);
}

// Transactions with a few items far more frequent than the rest, and items that go together.
Transactions RandomBaskets(size_t n, uint32_t items, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::geometric_distribution<uint32_t> item(0.15);
  std::uniform_int_distribution<int> len(1, 8);
  Transactions t;
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint32_t> b;
    for (int j = len(rng); j > 0; --j) b.push_back(std::min(item(rng), items - 1));
    if (std::find(b.begin(), b.end(), 2u) != b.end()) b.push_back(7);  // 2 → 7 always
    t.push_back(b);
  }
  return t;
}

uint64_t Holding(const Transactions& t, const std::vector<uint32_t>& items) {
  uint64_t c = 0;
  for (const auto& b : t) {
    bool all = true;
    for (uint32_t i : items) all = all && std::find(b.begin(), b.end(), i) != b.end();
    c += all;
  }
  return c;
}

// Every itemset of items below `items` with count ≥ min (level by level, counting each).
std::map<std::vector<uint32_t>, uint64_t> BruteForceItemsets(const Transactions& t, uint32_t items, uint64_t min) {
  std::map<std::vector<uint32_t>, uint64_t> out;
  std::vector<std::vector<uint32_t>> level;
  for (uint32_t i = 0; i < items; ++i) level.push_back({i});
  while (!level.empty()) {
    std::vector<std::vector<uint32_t>> next;
    for (const auto& s : level) {
      const uint64_t c = Holding(t, s);
      if (c < min) continue;
      out[s] = c;
      for (uint32_t i = s.back() + 1; i < items; ++i) {
        auto grown = s;
        grown.push_back(i);
        next.push_back(grown);
      }
    }
    level = std::move(next);
  }
  return out;
}

TEST(FpGrowth, FindsExactlyTheItemsetsABruteForceCountFinds) {
  const Transactions t = RandomBaskets(400, 30, 8);
  for (double support : {0.02, 0.05, 0.2}) {
    auto got = FpGrowth(t, {support, 0, 1'000'000});
    ASSERT_TRUE(got.ok());
    const auto want = BruteForceItemsets(t, 30, static_cast<uint64_t>(std::ceil(support * 400)));
    std::map<std::vector<uint32_t>, uint64_t> have;
    for (const auto& s : *got) have[s.items] = s.count;
    EXPECT_EQ(have, want) << "support " << support;
    EXPECT_GT(want.size(), 3u);
  }
  // max_length caps the itemsets' size.
  auto pairs = FpGrowth(t, {0.02, 2, 1'000'000});
  ASSERT_TRUE(pairs.ok());
  for (const auto& s : *pairs) EXPECT_LE(s.items.size(), 2u);
  // Too many itemsets is a clear error.
  EXPECT_EQ(FpGrowth(t, {0.001, 0, 50}).status().code(), Code::kBadRequest);
  EXPECT_EQ(FpGrowth(t, {0, 0, 50}).status().code(), Code::kBadRequest);
}

TEST(FpGrowth, RulesCarryTheirCountedSupportConfidenceAndLift) {
  const Transactions t = RandomBaskets(400, 30, 9);
  auto sets = FpGrowth(t, {0.03, 0, 1'000'000});
  ASSERT_TRUE(sets.ok());
  const auto rules = AssociationRules(*sets, t.size(), {0.4, 0});
  ASSERT_FALSE(rules.empty());
  bool two_to_seven = false;
  for (const auto& r : rules) {
    std::vector<uint32_t> both = r.antecedent;
    both.insert(both.end(), r.consequent.begin(), r.consequent.end());
    const double n = static_cast<double>(t.size());
    const double sab = static_cast<double>(Holding(t, both)), sa = static_cast<double>(Holding(t, r.antecedent)),
                 sc = static_cast<double>(Holding(t, r.consequent));
    EXPECT_NEAR(r.support, sab / n, 1e-12);
    EXPECT_NEAR(r.confidence, sab / sa, 1e-12);
    EXPECT_NEAR(r.lift, (sab / sa) / (sc / n), 1e-9);
    EXPECT_GE(r.confidence, 0.4);
    two_to_seven |= r.antecedent == std::vector<uint32_t>{2} && r.consequent == std::vector<uint32_t>{7};
  }
  EXPECT_TRUE(two_to_seven);  // planted: every basket with 2 has 7 (confidence 1)
  for (size_t i = 1; i < rules.size(); ++i) EXPECT_GE(rules[i - 1].lift, rules[i].lift);
}

bool Contains(const std::vector<uint32_t>& seq, const std::vector<uint32_t>& pattern, bool contiguous) {
  if (contiguous) return std::search(seq.begin(), seq.end(), pattern.begin(), pattern.end()) != seq.end();
  size_t at = 0;
  for (uint32_t x : seq) {
    if (at < pattern.size() && x == pattern[at]) ++at;
  }
  return at == pattern.size();
}

TEST(PrefixSpan, FindsExactlyThePatternsABruteForceCountFinds) {
  std::mt19937_64 rng(10);
  std::uniform_int_distribution<uint32_t> item(0, 5);
  std::uniform_int_distribution<int> len(0, 9);
  std::vector<std::vector<uint32_t>> seqs(150);
  for (auto& s : seqs) {
    for (int i = len(rng); i > 0; --i) s.push_back(item(rng));
  }
  for (bool contiguous : {false, true}) {
    SequenceOptions o;
    o.min_support = 0.1;
    o.max_length = 3;
    o.contiguous = contiguous;
    auto got = PrefixSpan(seqs, o);
    ASSERT_TRUE(got.ok());
    std::map<std::vector<uint32_t>, uint64_t> have, want;
    for (const auto& p : *got) have[p.items] = p.count;
    // Every pattern of length 1-3 over the 6 items, counted directly.
    std::vector<std::vector<uint32_t>> all;
    for (uint32_t a = 0; a < 6; ++a) {
      all.push_back({a});
      for (uint32_t b = 0; b < 6; ++b) {
        all.push_back({a, b});
        for (uint32_t c = 0; c < 6; ++c) all.push_back({a, b, c});
      }
    }
    for (const auto& pat : all) {
      uint64_t c = 0;
      for (const auto& s : seqs) c += Contains(s, pat, contiguous);
      if (c >= 15) want[pat] = c;
    }
    EXPECT_EQ(have, want) << "contiguous " << contiguous;
    EXPECT_GT(want.size(), 20u);
  }
}

TEST(IsolationForest, RanksPlantedOutliersFirst) {
  Points p = Blobs({{0, 0, 0, 0}}, 1000, 1.0, 11);
  // Trees grown on every point: a tree grown on 256 of them mostly lacks a given outlier, which
  // then ends in an edge leaf with the sample's extremes (scikit-learn scores these five
  // 0.54-0.76 with 256 per tree, 0.69-0.84 with all).
  const std::vector<std::vector<double>> far = {{20, 0, 0, 0}, {0, -25, 0, 0}, {8, 8, 8, 8}, {0, 0, 0, 30}, {-15, 15, 0, 0}};
  for (const auto& f : far) p.x.insert(p.x.end(), f.begin(), f.end()), ++p.n;
  IsolationForestOptions o;
  o.seed = 3;
  o.max_samples = p.n;
  auto forest = IsolationForest::Fit(p, o);
  ASSERT_TRUE(forest.ok());
  const auto score = forest->Score(p);
  std::vector<size_t> order(p.n);
  for (size_t i = 0; i < p.n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  std::set<size_t> top(order.begin(), order.begin() + 5);
  for (size_t i = 1000; i < 1005; ++i) EXPECT_TRUE(top.count(i)) << i << " score " << score[i];
  for (size_t i = 1000; i < 1005; ++i) EXPECT_GT(score[i], 0.65);
  double typical = 0;
  for (size_t i = 0; i < 1000; ++i) typical += score[i];
  EXPECT_LT(typical / 1000, 0.5);
  EXPECT_NEAR(AveragePathLength(256), 10.2448, 1e-3);  // c(256), as the paper tabulates
}

TEST(Projection, FindsTheDirectionOfALine) {
  Points p;
  p.d = 3;
  std::mt19937_64 rng(12);
  std::normal_distribution<double> t(0, 5), noise(0, 0.01);
  for (int i = 0; i < 300; ++i) {
    const double s = t(rng);
    p.x.insert(p.x.end(), {1 + 2 * s + noise(rng), 2 - s + noise(rng), 3 + 2 * s + noise(rng)});
  }
  p.n = 300;
  const Projection2 pr = PrincipalAxes(p);
  EXPECT_GT(pr.explained[0], 0.999);
  EXPECT_NEAR(std::abs(pr.axes[0][0]), 2.0 / 3, 1e-3);
  EXPECT_NEAR(std::abs(pr.axes[0][1]), 1.0 / 3, 1e-3);
  EXPECT_GT(pr.axes[0][0], 0);  // the sign is fixed
  const auto at = pr.Apply(p.row(0));
  const auto mean = pr.Apply(pr.mean.data());
  EXPECT_NEAR(mean[0], 0, 1e-12);
  EXPECT_GT(std::abs(at[0]), std::abs(at[1]));
}

}  // namespace
}  // namespace aimass::mining
