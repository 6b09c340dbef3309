// The built-in steps' parts that need no platform: CSV records and fields, and how
// dataset.split assigns rows.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "steps/csv_records.hpp"
#include "steps/dataset_split.hpp"
#include "steps/evaluation_metrics.hpp"

namespace aimass::steps {
namespace {

TEST(CsvTest, RecordsKeepQuotedLineBreaksAndFieldsAreUnquoted) {
  auto r = CsvRecords("a,b\r\n1,\"x\ny\"\n2,\"say \"\"hi\"\", then go\"\n3,");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[1], "1,\"x\ny\"");
  EXPECT_EQ(CsvFields((*r)[1]), (std::vector<std::string>{"1", "x\ny"}));
  EXPECT_EQ(CsvFields((*r)[2]), (std::vector<std::string>{"2", "say \"hi\", then go"}));
  EXPECT_EQ(CsvFields((*r)[3]), (std::vector<std::string>{"3", ""}));
  EXPECT_FALSE(CsvRecords("a\n\"open").ok());
}

TEST(SplitTest, StratifiedKeepsEveryClassInProportionAndIsRepeatable) {
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back(i % 10 < 7 ? "common" : i % 10 < 9 ? "rare" : "rarest");
  auto a = AssignSplits(keys, "stratified", 0.2, 0.1, 5);
  ASSERT_TRUE(a.ok());
  std::map<std::pair<std::string, int>, int> counts;
  for (size_t i = 0; i < keys.size(); ++i) counts[{keys[i], (*a)[i]}]++;
  EXPECT_EQ(counts[std::make_pair(std::string("common"), 1)], 140);
  EXPECT_EQ(counts[std::make_pair(std::string("rare"), 1)], 40);
  EXPECT_EQ(counts[std::make_pair(std::string("rarest"), 1)], 20);
  EXPECT_EQ(counts[std::make_pair(std::string("rarest"), 2)], 10);
  EXPECT_EQ(counts[std::make_pair(std::string("common"), 0)], 490);
  EXPECT_EQ(*AssignSplits(keys, "stratified", 0.2, 0.1, 5), *a);
  EXPECT_NE(*AssignSplits(keys, "stratified", 0.2, 0.1, 6), *a);
}

TEST(SplitTest, TimeSendsTheLatestToTestAndRandomTakesItsShare) {
  std::vector<std::string> times = {"2024-01-05T00:00:00Z", "2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z",
                                    "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"};
  auto t = AssignSplits(times, "time", 0.4, 0.2, 1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (std::vector<uint8_t>{1, 0, 1, 0, 2}));
  auto n = AssignSplits({"10", "9", "100", "2"}, "time", 0.25, 0, 1);  // numbers compare as numbers
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, (std::vector<uint8_t>{0, 0, 1, 0}));
  auto r = AssignSplits(std::vector<std::string>(100), "random", 0.3, 0, 9);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::count(r->begin(), r->end(), 1), 30);
  EXPECT_FALSE(AssignSplits(times, "random", 0.6, 0.5, 1).ok());
  EXPECT_FALSE(AssignSplits(times, "random", 0, 0, 1).ok());
  EXPECT_FALSE(AssignSplits(times, "sideways", 0.2, 0, 1).ok());
}

// Values from scikit-learn's documentation examples (roc_auc_score, r2_score, …).
TEST(EvaluationTest, KnownValues) {
  EXPECT_DOUBLE_EQ(RocAuc({0.1, 0.4, 0.35, 0.8}, {false, false, true, true}), 0.75);
  EXPECT_DOUBLE_EQ(RocAuc({0.5, 0.5, 0.5, 0.5}, {false, true, false, true}), 0.5);  // ties count half
  EXPECT_TRUE(std::isnan(RocAuc({0.1, 0.2}, {true, true})));
  auto r = RegressionMetrics({2.5, 0.0, 2, 8}, {3, -0.5, 2, 7});
  EXPECT_NEAR(r["rmse"].get<double>(), 0.6123724, 1e-6);
  EXPECT_DOUBLE_EQ(r["mae"].get<double>(), 0.5);
  EXPECT_NEAR(r["r2"].get<double>(), 0.9486081, 1e-6);
  // Three classes: y_true [0,1,2,0,1,2], y_pred [0,2,1,0,0,1] → accuracy 1/3, macro-F1 0.2667.
  std::vector<std::vector<double>> scores = {{.8, .1, .1}, {.1, .2, .7}, {.2, .6, .2}, {.7, .2, .1}, {.5, .4, .1}, {.1, .8, .1}};
  auto c = ClassificationMetrics(scores, {0, 1, 2, 0, 1, 2});
  EXPECT_NEAR(c["accuracy"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(c["macro_f1"].get<double>(), 0.26666666, 1e-6);
  EXPECT_EQ(c["confusion_matrix"], nlohmann::json::parse("[[2,0,0],[1,0,1],[0,2,0]]"));
  EXPECT_EQ(c["per_class"][0]["support"], 2);
  EXPECT_DOUBLE_EQ(c["per_class"][0]["recall"].get<double>(), 1.0);
  // Binary from one probability per row.
  auto b = ClassificationMetrics({{0.9}, {0.2}, {0.6}, {0.4}}, {1, 0, 0, 1});
  EXPECT_DOUBLE_EQ(b["accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(b["roc_auc"].get<double>(), 0.75);
}

}  // namespace
}  // namespace aimass::steps
