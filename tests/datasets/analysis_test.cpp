// Profiles, drift and expectations over tables parsed from CSV (against values computed here).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "datasets/drift.hpp"
#include "datasets/expectations.hpp"
#include "datasets/profile.hpp"
#include "datasets/table_parser.hpp"
#include "test_support.hpp"

namespace aimass::datasets {
namespace {

using nlohmann::json;

// A table stored as segment files under `dir`.
Table MakeTable(const testing::TempDir& dir, const std::string& csv, size_t segment_rows = 4) {
  static int counter = 0;
  ParseOptions o;
  o.segment_rows = segment_rows;
  o.threads = 2;
  std::vector<SegmentRef> refs;
  auto parsed = ParseTable(csv, o, [&](EncodedSegment s) -> Status {
    std::string path = dir.file("seg" + std::to_string(counter++));
    std::ofstream(path, std::ios::binary) << s.bytes;
    refs.push_back({path, s.rows});
    return Status::Ok();
  });
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return Table(parsed->schema, refs);
}

const json& Column(const json& profile, const std::string& name) {
  for (const auto& c : profile["columns"]) {
    if (c["name"] == name) return c;
  }
  throw std::runtime_error("no column " + name);
}

TEST(ProfileTest, MatchesStatisticsComputedByHand) {
  testing::TempDir dir;
  // x: 1..10 with one missing; y = 2x (correlation 1); c: categorical; last row duplicates the first.
  std::string csv = "x,y,c,t\n";
  std::vector<double> xs;
  for (int i = 1; i <= 10; ++i) {
    if (i == 5) {
      csv += ",10,b,2020-01-05\n";
      continue;
    }
    xs.push_back(i);
    csv += std::to_string(i) + "," + std::to_string(2 * i) + "," + (i % 3 ? "a" : "b") + ",2020-01-0" + std::to_string(i % 9 + 1) + "\n";
  }
  csv += "1,2,a,2020-01-02\n";
  xs.push_back(1);
  Table t = MakeTable(dir, csv, 3);
  ASSERT_EQ(t.segment_count(), 4u);
  ProfileOptions po;
  po.threads = 2;
  auto p = ProfileTable(t, po);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ((*p)["row_count"], 11);
  EXPECT_EQ((*p)["duplicate_rows"], 1);
  const json& x = Column(*p, "x");
  EXPECT_EQ(x["type"], "integer");
  EXPECT_EQ(x["count"], 10);
  EXPECT_EQ(x["missing"], 1);
  EXPECT_EQ(x["distinct"], 9);
  EXPECT_EQ(x["min"], 1);
  EXPECT_EQ(x["max"], 10);
  double mean = 0;
  for (double v : xs) mean += v;
  mean /= static_cast<double>(xs.size());
  double ss = 0;
  for (double v : xs) ss += (v - mean) * (v - mean);
  EXPECT_NEAR(x["mean"].get<double>(), mean, 1e-12);
  EXPECT_NEAR(x["std"].get<double>(), std::sqrt(ss / static_cast<double>(xs.size() - 1)), 1e-12);
  std::sort(xs.begin(), xs.end());
  double pos = 0.25 * static_cast<double>(xs.size() - 1);
  double q25 = xs[static_cast<size_t>(pos)] + (xs[static_cast<size_t>(pos) + 1] - xs[static_cast<size_t>(pos)]) * (pos - std::floor(pos));
  EXPECT_NEAR(x["quantiles"]["0.25"].get<double>(), q25, 1e-12);
  uint64_t hist_total = 0;
  for (const auto& n : x["histogram"]["counts"]) hist_total += n.get<uint64_t>();
  EXPECT_EQ(hist_total, 10u);
  EXPECT_EQ(x["top"][0]["value"], 1);
  EXPECT_EQ(x["top"][0]["count"], 2);
  const json& c = Column(*p, "c");
  EXPECT_EQ(c["top"][0]["value"], "a");
  EXPECT_EQ(c["distinct"], 2);
  EXPECT_EQ(Column(*p, "t")["min"], "2020-01-01T00:00:00Z");  // i = 9
  const json& corr = (*p)["correlations"];
  ASSERT_EQ(corr["columns"], json({"x", "y"}));
  EXPECT_NEAR(corr["matrix"][0][1].get<double>(), 1.0, 1e-9);
}

TEST(ProfileTest, LargeColumnsAreSampledAndCountedApproximately) {
  testing::TempDir dir;
  std::string csv = "v\n";
  for (int i = 0; i < 20000; ++i) csv += std::to_string(i % 5000) + "\n";
  Table t = MakeTable(dir, csv, 4096);
  ProfileOptions po;
  po.exact_limit = 1000;
  auto p = ProfileTable(t, po);
  ASSERT_TRUE(p.ok());
  const json& v = Column(*p, "v");
  EXPECT_EQ(v["distinct_exact"], false);
  EXPECT_NEAR(v["distinct"].get<double>(), 5000, 5000 * 0.05);  // HyperLogLog: ~1% error
  EXPECT_EQ(v["min"], 0);
  EXPECT_EQ(v["max"], 4999);  // min and max over every value, not the sample
  EXPECT_NEAR(v["quantiles"]["0.5"].get<double>(), 2500, 500);
}

TEST(DriftTest, SameDataDoesNotDriftShiftedDataDoes) {
  testing::TempDir dir;
  std::mt19937 rng(7);
  std::normal_distribution<double> n01(0, 1);
  auto make = [&](double shift, const char* cat) {
    std::string csv = "x,c\n";
    for (int i = 0; i < 4000; ++i) csv += std::to_string(n01(rng) + shift) + "," + (i % 4 ? "a" : cat) + "\n";
    return MakeTable(dir, csv, 1000);
  };
  Table base = make(0, "b"), same = make(0, "b"), moved = make(1.0, "z");
  auto r = DriftReport(same, base, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["drifted_columns"], 0);
  EXPECT_LT((*r)["columns"][0]["psi"].get<double>(), 0.05);
  EXPECT_GT((*r)["columns"][0]["ks_p_value"].get<double>(), 0.001);
  r = DriftReport(moved, base, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["drifted_columns"], 2);
  EXPECT_GT((*r)["columns"][0]["ks_statistic"].get<double>(), 0.3);
  EXPECT_LT((*r)["columns"][0]["ks_p_value"].get<double>(), 1e-6);
  // Kolmogorov's distribution at a known point: P(K > 1.36) ≈ 0.049 for large samples.
  EXPECT_NEAR(KsPValue(1.36 / std::sqrt(50000.0), 100000, 100000), 0.049, 0.003);
}

json RunSuite(const Table& t, const json& suite) {
  auto parsed = ParseSuite(suite);
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto r = Validate(t, *parsed, 1'600'000'000'000);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

TEST(ExpectationsTest, GreatExpectationsVocabularyAndMostly) {
  testing::TempDir dir;
  std::string csv = "id,price,code,when\n";
  for (int i = 0; i < 100; ++i) {
    std::string price = i < 3 ? "-1" : std::to_string(i);
    std::string code = i == 50 ? "bad!" : "C" + std::to_string(i);
    csv += std::to_string(i % 98) + "," + (i == 7 ? "" : price) + "," + code + ",2020-09-13T00:00:00Z\n";
  }
  Table t = MakeTable(dir, csv, 16);
  json suite = {{"expectations",
                 {{{"expectation_type", "expect_column_values_to_not_be_null"}, {"kwargs", {{"column", "price"}}}},
                  {{"expectation_type", "expect_column_values_to_not_be_null"}, {"kwargs", {{"column", "price"}, {"mostly", 0.95}}}},
                  {{"expectation_type", "expect_column_values_to_be_between"}, {"kwargs", {{"column", "price"}, {"min_value", 0}}}},
                  {{"expectation_type", "expect_column_values_to_match_regex"}, {"kwargs", {{"column", "code"}, {"regex", "^C[0-9]+$"}}}},
                  {{"expectation_type", "expect_column_values_to_be_unique"}, {"kwargs", {{"column", "id"}}}},
                  {{"expectation_type", "expect_column_values_to_be_in_set"}, {"kwargs", {{"column", "id"}, {"value_set", {0, 1, 2}}, {"mostly", 0.01}}}},
                  {{"expectation_type", "expect_table_row_count_to_be_between"}, {"kwargs", {{"min_value", 10}, {"max_value", 100}}}},
                  {{"expectation_type", "expect_column_mean_to_be_between"}, {"kwargs", {{"column", "price"}, {"min_value", 40}, {"max_value", 60}}}},
                  {{"expectation_type", "expect_column_freshness_to_be_less_than"}, {"kwargs", {{"column", "when"}, {"max_age_seconds", 86400}}}},
                  {{"expectation_type", "expect_column_to_exist"}, {"kwargs", {{"column", "nope"}}}}}}};
  json r = RunSuite(t, suite);
  const auto& res = r["results"];
  EXPECT_FALSE(res[0]["success"]);
  EXPECT_EQ(res[0]["result"]["unexpected_count"], 1);
  EXPECT_EQ(res[0]["result"]["partial_unexpected_index_list"], json({7}));
  EXPECT_TRUE(res[1]["success"]);  // 99% present, mostly 0.95
  EXPECT_FALSE(res[2]["success"]);
  EXPECT_EQ(res[2]["result"]["unexpected_count"], 3);
  EXPECT_EQ(res[2]["result"]["partial_unexpected_list"], json({-1, -1, -1}));
  EXPECT_FALSE(res[3]["success"]);
  EXPECT_EQ(res[3]["result"]["partial_unexpected_list"], json({"bad!"}));
  EXPECT_EQ(res[3]["result"]["partial_unexpected_index_list"], json({50}));
  EXPECT_FALSE(res[4]["success"]);
  EXPECT_EQ(res[4]["result"]["unexpected_count"], 4);  // 0, 1 twice each (i % 98)
  EXPECT_TRUE(res[5]["success"]);
  EXPECT_TRUE(res[6]["success"]);
  EXPECT_TRUE(res[7]["success"]);
  EXPECT_TRUE(res[8]["success"]);  // 2020-09-13 is less than a day before 1.6e12 ms
  EXPECT_FALSE(res[9]["success"]);
  EXPECT_FALSE(r["success"]);
  EXPECT_EQ(r["statistics"]["evaluated_expectations"], 10);
  EXPECT_EQ(r["statistics"]["successful_expectations"], 5);
}

TEST(ExpectationsTest, SuitesAreCheckedWhenSet) {
  for (const json& bad : {json::array(), json{{"expectations", 1}},
                          json{{"expectations", {{{"expectation_type", "expect_the_moon"}}}}},
                          json{{"expectations", {{{"expectation_type", "expect_column_values_to_not_be_null"}}}}},
                          json{{"expectations", {{{"expectation_type", "expect_column_values_to_match_regex"},
                                                  {"kwargs", {{"column", "a"}, {"regex", "("}}}}}}},
                          json{{"expectations", {{{"expectation_type", "expect_column_values_to_not_be_null"},
                                                  {"kwargs", {{"column", "a"}, {"mostly", 2}}}}}}}}) {
    auto r = ParseSuite(bad);
    EXPECT_FALSE(r.ok()) << bad.dump();
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kBadRequest);
    }
  }
  // GE 1.x names the type "type".
  auto r = ParseSuite({{"expectations", {{{"type", "expect_table_row_count_to_equal"}, {"kwargs", {{"value", 3}}}}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["expectations"][0]["expectation_type"], "expect_table_row_count_to_equal");
}

}  // namespace
}  // namespace aimass::datasets
