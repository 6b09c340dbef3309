// The analysis module's mining jobs below the HTTP layer: specs are checked whole with their
// defaults filled in, the job table hands each job to one claimant and queues again what a
// crash left running (also on PostgreSQL: the *_pg run), and a job reads a table version of
// several segments (baskets and sequences crossing segment boundaries, nulls skipped, an order
// column, ids of outliers) into the results the API returns.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "analysis/agreement.hpp"
#include "analysis/label_model.hpp"
#include "analysis/label_schema.hpp"
#include "analysis/mining_job.hpp"
#include "analysis/mining_spec.hpp"
#include "analysis/mining_store.hpp"
#include "analysis/usage.hpp"
#include "common/time.hpp"
#include "events/bus.hpp"
#include "datasets/segment.hpp"
#include "test_db.hpp"

namespace aimass::analysis {
namespace {

using json = nlohmann::json;
using datasets::ColumnBuilder;
using datasets::ColumnData;
using datasets::ColumnType;

TEST(MiningSpec, FillsDefaultsAndNamesWhatIsWrong) {
  auto s = ParseMiningSpec({{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"k", 3}}}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->version, "latest");
  EXPECT_EQ(s->params["k"], 3);
  EXPECT_EQ(s->params["init"], "k-means++");
  EXPECT_EQ(s->params["n_init"], 1);
  EXPECT_EQ(s->params["columns"], json::array());
  EXPECT_EQ(MiningSpecJson(*s)["source"], json({{"dataset", "d"}, {"version", "latest"}}));
  auto numbered = ParseMiningSpec({{"kind", "outliers"}, {"source", {{"dataset", "d"}, {"version", 4}}}});
  ASSERT_TRUE(numbered.ok());
  EXPECT_EQ(numbered->version, "4");
  EXPECT_EQ(numbered->params["contamination"], 0.0);

  const std::vector<std::pair<json, std::string>> bad = {
      {json::array(), "JSON object"},
      {{{"kind", "pca"}, {"source", {{"dataset", "d"}}}}, "kind 'pca'"},
      {{{"kind", "kmeans"}}, "source.dataset"},
      {{{"kind", "kmeans"}, {"source", {{"dataset", "d"}, {"version", -1}}}}, "source.version"},
      {{{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"k", 0}}}}, "params.k must be between 1 and 10000"},
      {{{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"k", 2.5}}}}, "params.k must be a whole number"},
      {{{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"columns", "a"}}}}, "params.columns"},
      {{{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"init", "best"}}}}, "params.init must be one of"},
      {{{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"mini_batch", 1}}}}, "params.mini_batch must be true or false"},
      {{{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"eps", 1}}}}, "params.eps is not a parameter of kmeans"},
      {{{"kind", "dbscan"}, {"source", {{"dataset", "d"}}}}, "params.eps is required"},
      {{{"kind", "dbscan"}, {"source", {{"dataset", "d"}}}, {"params", {{"eps", 0}}}}, "params.eps must be more than 0"},
      {{{"kind", "association_rules"}, {"source", {{"dataset", "d"}}}, {"params", {{"item_column", "i"}}}}, "transaction_column is required"},
      {{{"kind", "association_rules"}, {"source", {{"dataset", "d"}}}, {"params", {{"transaction_column", "t"}, {"item_column", "i"}, {"min_support", 1.5}}}},
       "params.min_support must be in (0, 1]"},
      {{{"kind", "outliers"}, {"source", {{"dataset", "d"}}}, {"params", {{"contamination", 0.9}}}}, "params.contamination must be between 0 and 0.5"},
      {{{"kind", "outliers"}, {"source", {{"dataset", "d"}}}, {"more", 1}}, "unknown field 'more'"},
  };
  for (const auto& [body, words] : bad) {
    auto r = ParseMiningSpec(body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.status().code(), Code::kBadRequest);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << body.dump() << " → " << r.status().message();
  }
}

TEST(MiningStore, ClaimsEachJobOnceAndRequeuesTheRunning) {
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Migrate(MiningStore::Migrations()).ok());
  MiningStore store(*db);
  std::vector<int64_t> ids;
  for (int i = 0; i < 20; ++i) {
    MiningRow r;
    r.kind = "kmeans", r.dataset = "d", r.version = 1, r.spec = "{}", r.state = "queued", r.owner = "u", r.created_ms = 1000 + i;
    auto id = store.Insert(r);
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  // Four claimants at once: every job claimed exactly once, the oldest first per claimant.
  std::vector<std::vector<int64_t>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        auto next = store.ClaimNext(5000);
        ASSERT_TRUE(next.ok()) << next.status().message();
        if (!*next) return;
        EXPECT_EQ((*next)->state, "running");
        got[t].push_back((*next)->id);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int64_t> all;
  for (const auto& g : got) {
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, ids);
  // A finished job stays finished; a cancelled one is not overwritten by its late result.
  EXPECT_TRUE(*store.Finish(ids[0], "succeeded", "{\"x\":1}", "", 6000));
  EXPECT_FALSE(*store.Finish(ids[0], "failed", "", "late", 6001));
  EXPECT_TRUE(*store.Cancel(ids[1], 6000));
  EXPECT_FALSE(*store.Finish(ids[1], "succeeded", "{}", "", 6001));
  EXPECT_FALSE(*store.Cancel(ids[0], 6002));
  auto one = store.Get(ids[0], true);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->state, "succeeded");
  EXPECT_EQ(one->result, "{\"x\":1}");
  EXPECT_EQ(one->started_ms, 5000);
  EXPECT_EQ(one->finished_ms, 6000);
  EXPECT_EQ(store.Get(ids[1], false)->state, "cancelled");
  // The 18 still running are queued again, as a start after a crash does, and claimed again.
  EXPECT_EQ(*store.Requeue(), 18);
  EXPECT_EQ(store.List("queued", "", "", 0, 100)->size(), 18u);
  EXPECT_EQ((*store.ClaimNext(7000))->id, ids[2]);
  // Listing: newest first, below a page token, filtered.
  auto page = store.List("", "kmeans", "d", ids[10], 3);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].id, ids[9]);
  EXPECT_EQ(store.List("", "dbscan", "", 0, 100)->size(), 0u);
  EXPECT_TRUE(store.Delete(ids[0]).ok());
  EXPECT_EQ(store.Get(ids[0], false).status().code(), Code::kNotFound);
  EXPECT_EQ(store.Delete(ids[0]).code(), Code::kNotFound);
}

// A table version of two segments written here: basket b7 and customer c2 cross the boundary.
class TableFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("analysis-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    // basket, item, customer, step, x, y, id
    struct Row {
      const char* basket;
      const char* item;
      const char* customer;
      int64_t step;
      std::optional<double> x;
      double y;
    };
    const std::vector<Row> first = {{"b1", "bread", "c1", 3, 0.0, 0.0}, {"b1", "butter", "c1", 1, 0.1, 0.1},
                                    {"b2", "bread", "c1", 2, 0.2, 0.0}, {"b2", "butter", "c2", 5, 0.0, 0.2},
                                    {"b3", "milk", "c2", 6, std::nullopt, 9.0}, {"b7", "bread", "c2", 7, 10.0, 10.0}};
    const std::vector<Row> second = {{"b7", "butter", "c2", 8, 10.1, 10.0}, {"b4", "bread", "c3", 1, 10.0, 10.2},
                                     {"b4", "butter", "c3", 2, 10.2, 10.1}, {"b5", "jam", "c3", 3, 50.0, -40.0}};
    schema_ = {{"basket", ColumnType::kString, false}, {"item", ColumnType::kString, false}, {"customer", ColumnType::kString, false},
               {"step", ColumnType::kInteger, false}, {"x", ColumnType::kFloat, true},     {"y", ColumnType::kFloat, false}};
    uint64_t n = 0;
    for (const auto* rows : {&first, &second}) {
      ColumnBuilder b(ColumnType::kString), i(ColumnType::kString), c(ColumnType::kString), s(ColumnType::kInteger), x(ColumnType::kFloat),
          y(ColumnType::kFloat);
      for (const auto& r : *rows) {
        b.AppendString(r.basket), i.AppendString(r.item), c.AppendString(r.customer), s.AppendInt(r.step), y.AppendFloat(r.y);
        r.x ? x.AppendFloat(*r.x) : x.AppendNull();
      }
      const std::string path = (dir_ / ("seg" + std::to_string(n++))).string();
      std::ofstream(path, std::ios::binary) << datasets::EncodeSegment({b.Finish(), i.Finish(), c.Finish(), s.Finish(), x.Finish(), y.Finish()});
      segments_.push_back({path, rows->size(), path});
    }
    table_ = datasets::Table(schema_, segments_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<json> Run(const json& body) {
    AIMASS_ASSIGN_OR_RETURN(MiningSpec spec, ParseMiningSpec(body));
    MiningRun run;
    run.threads = 2;
    return RunMining(spec, table_, run);
  }

  std::filesystem::path dir_;
  datasets::Schema schema_;
  std::vector<datasets::SegmentRef> segments_;
  datasets::Table table_;
};

TEST_F(TableFixture, RulesCountBasketsAcrossSegments) {
  auto r = Run({{"kind", "association_rules"},
                {"source", {{"dataset", "d"}}},
                {"params", {{"transaction_column", "basket"}, {"item_column", "item"}, {"min_support", 0.5}, {"min_confidence", 0.9}}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["transactions"], 6);  // b1 b2 b3 b7 b4 b5: b7 once, though its rows are in both segments
  EXPECT_EQ((*r)["rows"], 10);
  // bread and butter: in b1, b2, b7, b4 (4 of 6).
  bool pair = false;
  for (const auto& s : (*r)["itemsets"]) pair |= s["items"] == json({"bread", "butter"}) && s["count"] == 4;
  EXPECT_TRUE(pair) << (*r)["itemsets"].dump();
  ASSERT_EQ((*r)["rules"].size(), 2u);  // bread → butter and butter → bread, confidence 1, lift 1.5
  for (const auto& rule : (*r)["rules"]) {
    EXPECT_DOUBLE_EQ(rule["confidence"].get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(rule["lift"].get<double>(), 1.5);
  }
}

TEST_F(TableFixture, SequencesFollowTheOrderColumnAcrossSegments) {
  auto r = Run({{"kind", "sequences"},
                {"source", {{"dataset", "d"}}},
                {"params", {{"sequence_column", "customer"}, {"item_column", "item"}, {"order_column", "step"}, {"min_support", 0.6}}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)["sequences"], 3);
  // By step: c1 butter, bread, bread; c2 butter, milk, bread, butter; c3 bread, butter, jam.
  std::map<std::string, int64_t> got;
  for (const auto& p : (*r)["patterns"]) {
    std::string k;
    for (const auto& i : p["items"]) k += (k.empty() ? "" : ">") + i.get<std::string>();
    got[k] = p["count"];
  }
  EXPECT_EQ(got["butter>bread"], 2);
  EXPECT_EQ(got["bread>butter"], 2);
  EXPECT_EQ(got["bread"], 3);
  EXPECT_EQ(got.count("milk"), 0u);
}

TEST_F(TableFixture, ClustersSkipNullRowsAndOutliersNameTheirRows) {
  auto km = Run({{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"k", 3}, {"columns", {"x", "y"}}, {"n_init", 5}}}});
  ASSERT_TRUE(km.ok()) << km.status().message();
  EXPECT_EQ((*km)["rows"], 9);
  EXPECT_EQ((*km)["skipped_rows"], 1);  // b3's x is missing
  auto sizes = (*km)["sizes"].get<std::vector<int64_t>>();
  std::sort(sizes.begin(), sizes.end());
  EXPECT_EQ(sizes, (std::vector<int64_t>{1, 4, 4}));
  EXPECT_EQ((*km)["projection"]["points"].size(), 9u);
  EXPECT_TRUE((*km)["silhouette"].is_number());
  auto out = Run({{"kind", "outliers"}, {"source", {{"dataset", "d"}}}, {"params", {{"columns", {"x", "y"}}, {"id_column", "basket"}, {"top", 2}}}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ((*out)["top"].size(), 2u);
  EXPECT_EQ((*out)["top"][0]["id"], "b5");  // (50, −40), far from both groups
  EXPECT_EQ((*out)["top"][0]["row"], 9);
  EXPECT_EQ((*out)["top"][0]["values"]["x"], 50.0);
  // Columns a kind cannot read are refused, naming them.
  auto text = Run({{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"columns", {"item"}}}}});
  EXPECT_NE(text.status().message().find("'item' is string"), std::string::npos) << text.status().message();
  auto missing = Run({{"kind", "sequences"}, {"source", {{"dataset", "d"}}}, {"params", {{"sequence_column", "who"}, {"item_column", "item"}}}});
  EXPECT_NE(missing.status().message().find("no column 'who'"), std::string::npos);
  // A job asked to stop stops.
  std::atomic<bool> stop{true};
  auto spec = ParseMiningSpec({{"kind", "kmeans"}, {"source", {{"dataset", "d"}}}, {"params", {{"k", 2}}}});
  MiningRun run;
  run.cancelled = &stop;
  EXPECT_FALSE(RunMining(*spec, table_, run).ok());
}

TEST(Agreement, KappasEqualTheTextbookExamples) {
  // Fleiss (1971) as Wikipedia works it: 10 items, 14 raters, 5 categories → κ = 0.210.
  const std::vector<std::vector<int>> table = {{0, 0, 0, 0, 14}, {0, 2, 6, 4, 2}, {0, 0, 3, 5, 6}, {0, 3, 9, 2, 0}, {2, 2, 8, 1, 1},
                                               {7, 7, 0, 0, 0}, {3, 2, 6, 3, 0}, {2, 5, 3, 2, 2}, {6, 5, 2, 1, 0}, {0, 2, 2, 3, 7}};
  std::vector<std::vector<std::string>> labels;
  for (const auto& row : table) {
    std::vector<std::string> l;
    for (size_t c = 0; c < row.size(); ++c) l.insert(l.end(), static_cast<size_t>(row[c]), std::string(1, static_cast<char>('a' + c)));
    labels.push_back(l);
  }
  labels.push_back({"a", "b"});  // another number of raters: left out
  auto f = FleissKappa(labels);
  ASSERT_TRUE(f.has_value());
  EXPECT_NEAR(f->kappa, 0.2099, 5e-4);
  EXPECT_EQ(f->items, 10u);
  EXPECT_EQ(f->raters, 14u);
  EXPECT_EQ(f->per_label.size(), 5u);
  // Cohen: 50 items, a said yes 25 (20 with b's yes), b said yes 30 → p_o 0.7, p_e 0.5, κ 0.4.
  std::vector<std::string> a, b;
  auto add = [&](int n, const char* x, const char* y) {
    for (int i = 0; i < n; ++i) a.push_back(x), b.push_back(y);
  };
  add(20, "yes", "yes"), add(5, "yes", "no"), add(10, "no", "yes"), add(15, "no", "no");
  EXPECT_NEAR(*CohensKappa(a, b), 0.4, 1e-12);
  EXPECT_NEAR(*CohensKappa(a, a), 1.0, 1e-12);
  EXPECT_FALSE(CohensKappa({}, {}).has_value());
  EXPECT_FALSE(FleissKappa({{"a"}, {"b"}}).has_value());
}

TEST(LabelModel, WeighsFunctionsByTheirAgreementAndBeatsTheMajority) {
  // 2,000 items of 3 classes; five functions voting on a share of items with known accuracies.
  // Three weak ones (55 %) that err alike outvote two strong ones (95 %) in a plain majority.
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int> cls(0, 2);
  std::uniform_real_distribution<double> u(0, 1);
  const std::vector<double> acc = {0.95, 0.95, 0.55, 0.55, 0.55};
  std::vector<int> truth;
  std::vector<std::vector<int>> votes;
  for (int i = 0; i < 2000; ++i) {
    const int y = cls(rng);
    truth.push_back(y);
    const int wrong = (y + 1) % 3;  // the weak functions' errors agree
    std::vector<int> v;
    for (double a : acc) v.push_back(u(rng) < 0.7 ? (u(rng) < a ? y : wrong) : -1);
    votes.push_back(v);
  }
  const LabelModelFit fit = FitLabelModel(votes, 3);
  int right = 0, majority_right = 0, covered = 0;
  for (size_t i = 0; i < votes.size(); ++i) {
    std::vector<int> count(3, 0);
    for (int v : votes[i]) {
      if (v >= 0) count[static_cast<size_t>(v)]++;
    }
    if (fit.label[i] < 0) continue;
    ++covered;
    right += fit.label[i] == truth[i];
    majority_right += static_cast<int>(std::max_element(count.begin(), count.end()) - count.begin()) == truth[i];
  }
  EXPECT_GT(right, majority_right);
  EXPECT_GT(static_cast<double>(right) / covered, 0.9);
  EXPECT_GT(fit.accuracy[0], fit.accuracy[2] + 0.2);  // the strong ones are found out
  EXPECT_NEAR(fit.coverage[0], 0.7, 0.03);

  // Functions vote as written: a keyword as a word, a pattern anywhere, a rule on a column.
  const std::vector<std::string> classes = {"fraud", "ok"};
  auto kw = LabelingFunctionRunner::Compile(*ParseLabelingFunction({{"name", "k"}, {"kind", "keyword"}, {"keywords", {"stolen"}}, {"label", "fraud"}}, classes), classes);
  ASSERT_TRUE(kw.ok());
  EXPECT_EQ(kw->Vote("My card was STOLEN.", json::object()), 0);
  EXPECT_EQ(kw->Vote("unstolen goods", json::object()), -1);
  auto rule = LabelingFunctionRunner::Compile(*ParseLabelingFunction({{"name", "r"}, {"kind", "rule"}, {"column", "amount"}, {"op", ">="}, {"value", 100}, {"label", "ok"}}, classes), classes);
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ(rule->Vote("", {{"amount", 150}}), 1);
  EXPECT_EQ(rule->Vote("", {{"amount", 50}}), -1);
  EXPECT_EQ(rule->Vote("", {{"other", 500}}), -1);
  EXPECT_FALSE(ParseLabelingFunction({{"name", "x"}, {"kind", "regex"}, {"pattern", "("}, {"label", "ok"}}, classes).ok());
  EXPECT_FALSE(ParseLabelingFunction({{"name", "x"}, {"kind", "keyword"}, {"keywords", {"a"}}, {"label", "nope"}}, classes).ok());
}

TEST(LabelSchema, ChecksValuesAndPutsThemInOneForm) {
  auto s = ParseLabelSchema({{"kind", "multi"}, {"classes", {"b", "a", "c"}}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->keys, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(*CheckLabel(*s, {"c", "a", "c"}, ""), json({"a", "c"}));
  EXPECT_FALSE(CheckLabel(*s, {"d"}, "").ok());
  auto spans = ParseLabelSchema({{"kind", "spans"}, {"classes", {"x", "y"}}, {"text_column", "t"}});
  ASSERT_TRUE(spans.ok());
  // Offsets count code points: "héllo" has 5.
  EXPECT_TRUE(CheckLabel(*spans, {{{"class", "x"}, {"start", 0}, {"end", 5}}}, "h\xc3\xa9llo").ok());
  EXPECT_FALSE(CheckLabel(*spans, {{{"class", "x"}, {"start", 0}, {"end", 6}}}, "h\xc3\xa9llo").ok());
  EXPECT_FALSE(ParseLabelSchema({{"kind", "spans"}, {"classes", {"x", "y"}}}).ok());
  EXPECT_FALSE(ParseLabelSchema({{"classes", {"x", "y"}}, {"keys", {"1", "1"}}}).ok());
  EXPECT_FALSE(ParseLabelSchema({{"classes", {"x"}}}).ok());
}

TEST(Usage, CountsEveryCallAndAlertsOnceWhenAValueCrossesItsThreshold) {
  // Percentiles from the histogram: 95 calls at 1 ms, 5 at 500 ms → p95 about 1 ms, p99 about 500.
  UsageTally t;
  UsageRecord r;
  r.status = 200;
  r.latency_ms = 1;
  for (int i = 0; i < 95; ++i) t.Add(r);
  r.latency_ms = 500;
  r.status = 503;
  for (int i = 0; i < 5; ++i) t.Add(r);
  EXPECT_EQ(t.calls, 100u);
  EXPECT_EQ(t.errors, 5u);
  EXPECT_LE(t.Percentile(0.95), 1.34);  // the upper edge of 1 ms's bucket (10^(1/8) wide)
  EXPECT_GE(t.Percentile(0.99), 400);
  EXPECT_EQ(t.Percentile(1.0), 500);

  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Migrate(UsageService::Migrations()).ok());
  events::EventBus bus;
  std::vector<std::string> seen;
  bus.Subscribe("usage.alert.>", [&](const events::Event& e) { seen.push_back(e.topic + " " + e.data); });
  UsageOptions o;
  o.bus = &bus;
  UsageService u(*db, o);
  ASSERT_TRUE(u.PutRule({{"name", "errors"}, {"metric", "error_rate"}, {"by", "consumer"}, {"threshold", 0.2}, {"window_s", 60}, {"min_calls", 5}}).ok());
  EXPECT_FALSE(u.PutRule({{"name", "both"}, {"metric", "calls"}, {"threshold", 1}, {"anomaly", 2}}).ok());
  // From four threads: alice's calls all good, bob's half failing, 20 s ago (a whole slot).
  const int64_t at = UnixNowMs() - 20'000;
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 250; ++i) {
        UsageRecord c;
        c.kind = "gateway", c.route = "r", c.application = "shop";
        c.consumer = i % 2 ? "alice" : "bob";
        c.status = (c.consumer == "bob" && i % 4 == 0) ? 500 : 200;
        c.latency_ms = 2;
        c.bytes_out = 10;
        c.time_ms = at + k;
        u.Record(c);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(u.Flush().ok());
  auto series = u.Series("consumer", "", at - 60'000, UnixNowMs() + 1, 60'000);
  ASSERT_TRUE(series.ok()) << series.status().message();
  std::map<std::string, json> total;
  for (const auto& s : (*series)["series"]) total[s["value"]] = s["total"];
  EXPECT_EQ(total["alice"]["calls"], 500);
  EXPECT_EQ(total["bob"]["calls"], 500);
  EXPECT_EQ(total["alice"]["errors"], 0);
  EXPECT_EQ(total["bob"]["errors"], 4 * 63);  // i = 0, 4, … 248 on each thread
  EXPECT_EQ(total["bob"]["bytes_out"], 5000);
  auto top = u.Top("consumer", "errors", at - 60'000, UnixNowMs() + 1, 1);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ((*top)["top"][0]["value"], "bob");
  // The rule fired once, for bob only; flushing again changes nothing.
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_NE(seen[0].find("usage.alert.firing"), std::string::npos);
  EXPECT_NE(seen[0].find("\"value\":\"bob\""), std::string::npos);
  ASSERT_TRUE(u.Flush().ok());
  EXPECT_EQ(seen.size(), 1u);
  auto events = u.AlertEvents("errors", 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ((*events)["events"].size(), 1u);
  EXPECT_NEAR((*events)["events"][0]["observed"].get<double>(), 252.0 / 500, 1e-9);
  EXPECT_FALSE(u.Series("planet", "", 0, 1, 60'000).ok());
  EXPECT_FALSE(u.Top("consumer", "joy", 0, 1, 1).ok());
}

}  // namespace
}  // namespace aimass::analysis
