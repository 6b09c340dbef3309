// The cube module's parts that need no server: definitions and their refusals, queries planned
// and run over a small table built here (filters, totals, top-N, comparison, pivot, drill, and
// the choice of a pre-aggregation), the SQL subset translated, and anomaly scores.
#include <gtest/gtest.h>

#include <cmath>

#include "cube/anomaly.hpp"
#include "cube/cube_query.hpp"
#include "cube/cube_spec.hpp"
#include "cube/sql.hpp"
#include "olap/chunk_builder.hpp"

namespace aimass::cube {
namespace {

using nlohmann::json;

json SpecJson() {
  return json::parse(R"({
    "name": "sales", "source": {"dataset": "retail"},
    "dimensions": [
      {"name": "country", "column": "Country", "hierarchy": [{"name": "region", "column": "Country", "map": {"France": "Europe", "Spain": "Europe"}, "default": "Other"}]},
      {"name": "time", "column": "InvoiceDate", "type": "time"}],
    "measures": [
      {"name": "revenue", "expr": "Quantity * UnitPrice", "agg": "sum"},
      {"name": "lines", "agg": "count"},
      {"name": "customers", "column": "CustomerID", "agg": "count_distinct"},
      {"name": "per_line", "formula": "revenue / lines"}]})");
}

CubeSpec Spec() { return *CubeSpec::Parse(SpecJson()); }

TEST(CubeSpec, ParsesLevelsAndMeasures) {
  CubeSpec s = Spec();
  ASSERT_EQ(s.CodeLevels().size(), 2u);
  EXPECT_EQ(s.CodeLevels()[0]->name, "country.region");
  EXPECT_EQ(s.CodeLevels()[1]->name, "country");
  EXPECT_EQ(s.TimeDimension()->name, "time");
  EXPECT_NE(s.DimensionOf("time.month"), nullptr);
  EXPECT_EQ(s.DimensionOf("time.fortnight"), nullptr);
  EXPECT_EQ(s.TableMeasures().size(), 2u);  // rows counts and derived measures are not stored
  EXPECT_EQ(CubeSpec::Parse(s.ToJson())->ToJson(), s.ToJson());
}

TEST(CubeSpec, RefusesWhatCannotWork) {
  auto with = [](const std::function<void(json&)>& f) {
    json j = SpecJson();
    f(j);
    return CubeSpec::Parse(j);
  };
  const std::vector<std::pair<std::string, std::function<void(json&)>>> bad = {
      {"bad name", [](json& j) { j["name"] = "../x"; }},
      {"no source", [](json& j) { j.erase("source"); }},
      {"two times", [](json& j) { j["dimensions"].push_back({{"name", "t2"}, {"column", "X"}, {"type", "time"}}); }},
      {"dotted name", [](json& j) { j["dimensions"][0]["name"] = "a.b"; }},
      {"same name twice", [](json& j) { j["measures"].push_back({{"name", "country"}, {"agg", "count"}}); }},
      {"unknown agg", [](json& j) { j["measures"][0]["agg"] = "median"; }},
      {"bad expr", [](json& j) { j["measures"][0]["expr"] = "Quantity *"; }},
      {"formula of unknown", [](json& j) { j["measures"][3]["formula"] = "revenue / nothing"; }},
      {"formula of formula", [](json& j) { j["measures"].push_back({{"name", "x"}, {"formula", "per_line * 2"}}); }},
      {"approximate sum", [](json& j) { j["measures"][0]["approximate"] = true; }},
      {"distinct of expr", [](json& j) { j["measures"][2] = {{"name", "c"}, {"expr", "A"}, {"agg", "count_distinct"}}; }},
      {"unknown field", [](json& j) { j["colour"] = "red"; }},
      {"pre-aggregation of unknown level", [](json& j) { j["pre_aggregations"] = {{{"name", "p"}, {"dimensions", {"nowhere"}}}}; }},
      {"pre-aggregation at a weekday", [](json& j) { j["pre_aggregations"] = {{{"name", "p"}, {"dimensions", {"time.weekday"}}}}; }},
      {"map and prefix", [](json& j) { j["dimensions"][0]["hierarchy"][0]["prefix"] = 2; }},
  };
  for (const auto& [what, f] : bad) {
    auto r = with(f);
    EXPECT_FALSE(r.ok()) << what;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kBadRequest) << what;
    }
  }
}

// A table as the builder makes it: country.region, country; time; revenue, customers.
struct Fixture {
  CubeSpec spec = Spec();
  olap::Table table;
  Fixture() {
    auto region = std::make_shared<olap::Dictionary>(), country = std::make_shared<olap::Dictionary>(), cust = std::make_shared<olap::Dictionary>();
    table.schema.code_columns = {"country.region", "country"};
    table.schema.has_time = true;
    table.schema.measures = {{"revenue", false}, {"customers", true}};
    olap::ChunkInput in;
    in.codes.resize(2);
    in.values.resize(2), in.valid.resize(2), in.distinct.resize(2);
    // 2011-01 … 2011-06, three countries: France and Spain grow by 10 a month, UK is flat at 5.
    const char* countries[] = {"France", "Spain", "United Kingdom"};
    for (int m = 0; m < 6; ++m) {
      for (int c = 0; c < 3; ++c) {
        in.codes[0].push_back(region->Add(c < 2 ? "Europe" : "Other"));
        in.codes[1].push_back(country->Add(countries[c]));
        in.times.push_back(olap::DaysFromCivil(2011, static_cast<unsigned>(m + 1), 10) * 86400);
        in.values[0].push_back(c < 2 ? 10.0 * (m + 1) : 5.0);
        in.valid[0].push_back(1);
        in.distinct[1].push_back(cust->Add("c" + std::to_string(c * 10 + m % 2)));
      }
    }
    table.AddChunk(olap::MakeChunk(std::move(in)));
    table.code_dicts = {region, country};
    table.distinct_dicts = {nullptr, cust};
  }
  Result<json> Run(const json& q) {
    auto parsed = ParseQuery(q, spec);
    if (!parsed.ok()) return parsed.status();
    return Execute(spec, table, *parsed, ExecOptions{1, size_t{1} << 26}, nullptr);
  }
};

TEST(CubeQuery, GroupsFiltersAndDerives) {
  Fixture f;
  auto r = f.Run({{"measures", {"revenue", "lines", "customers", "per_line"}}, {"dimensions", {"country"}},
                  {"filters", {{{"dimension", "time"}, {"op", "between"}, {"values", {"2011-02", "2011-03"}}}}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)["rows"].size(), 3u);
  const json& fr = (*r)["rows"][0];
  EXPECT_EQ(fr["country"], "France");
  EXPECT_EQ(fr["revenue"], 50.0);  // February 20 + March 30
  EXPECT_EQ(fr["lines"], 2);
  EXPECT_EQ(fr["customers"], 2);
  EXPECT_EQ(fr["per_line"], 25.0);
  EXPECT_EQ((*r)["rows"][2]["country"], "United Kingdom");
  EXPECT_EQ((*r)["rows"][2]["revenue"], 10.0);
}

TEST(CubeQuery, RollupTotalsFollowTheirGroups) {
  Fixture f;
  auto r = f.Run({{"measures", {"revenue"}}, {"dimensions", {"country.region", "time.quarter"}}, {"totals", "rollup"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const json& rows = (*r)["rows"];
  ASSERT_EQ(rows.size(), 7u);  // 2 regions × 2 quarters, 2 region totals, 1 grand total
  EXPECT_EQ(rows[0]["country.region"], "Europe");
  EXPECT_EQ(rows[0]["time.quarter"], "2011-Q1");
  EXPECT_EQ(rows[0]["revenue"], 120.0);  // (10+20+30) × 2
  EXPECT_EQ(rows[2]["grouping"], json({0, 1}));
  EXPECT_EQ(rows[2]["time.quarter"], nullptr);
  EXPECT_EQ(rows[2]["revenue"], 420.0);
  EXPECT_EQ(rows[6]["grouping"], json({1, 1}));
  EXPECT_EQ(rows[6]["revenue"], 450.0);
}

TEST(CubeQuery, TopComparePivotAndHaving) {
  Fixture f;
  auto top = f.Run({{"measures", {"revenue"}}, {"dimensions", {"time.quarter", "country"}}, {"top", {{"n", 1}, {"by", "revenue"}, {"per", {"time.quarter"}}}}});
  ASSERT_TRUE(top.ok()) << top.status().message();
  ASSERT_EQ((*top)["rows"].size(), 2u);  // France and Spain tie; the first kept
  auto cmp = f.Run({{"measures", {"revenue"}}, {"dimensions", {"time.month"}}, {"compare", {{"to", "previous_period"}}},
                    {"filters", {{{"dimension", "time.month"}, {"op", "gte"}, {"value", "2011-03"}}}}});
  ASSERT_TRUE(cmp.ok()) << cmp.status().message();
  const json& first = (*cmp)["rows"][0];
  EXPECT_EQ(first["time.month"], "2011-03");
  EXPECT_EQ(first["revenue"], 65.0);
  EXPECT_EQ(first["revenue.previous"], 45.0);  // February: outside the filter, found by the shifted run
  EXPECT_NEAR(first["revenue.change"].get<double>(), 20.0 / 45.0, 1e-12);
  auto all = f.Run({{"measures", {"revenue"}}, {"dimensions", {"time.month"}}, {"compare", {{"to", "previous_period"}}}, {"totals", "rollup"}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)["rows"][0]["revenue.previous"], nullptr);  // before the data began: unknown, not 0
  EXPECT_EQ((*all)["rows"][6]["grouping"], json({1}));
  EXPECT_EQ((*all)["rows"][6]["revenue.previous"], nullptr);  // all time against all time: nothing to say
  EXPECT_EQ((*all)["columns"].size(), 4u);
  auto piv = f.Run({{"measures", {"revenue"}}, {"dimensions", {"country", "time.quarter"}}, {"pivot", {"time.quarter"}}});
  ASSERT_TRUE(piv.ok());
  EXPECT_EQ((*piv)["pivot"]["columns"], json({{"2011-Q1"}, {"2011-Q2"}}));
  EXPECT_EQ((*piv)["pivot"]["rows"][2]["keys"]["country"], "United Kingdom");
  EXPECT_EQ((*piv)["pivot"]["rows"][2]["cells"][1]["revenue"], 15.0);
  auto none = f.Run({{"measures", {"revenue", "lines", "customers", "per_line"}}, {"filters", {{{"dimension", "country"}, {"op", "eq"}, {"value", "Atlantis"}}}}});
  ASSERT_TRUE(none.ok());
  ASSERT_EQ((*none)["rows"].size(), 1u);  // SQL's answer to an aggregate over no rows: one row
  EXPECT_EQ((*none)["rows"][0]["lines"], 0);
  EXPECT_EQ((*none)["rows"][0]["customers"], 0);
  EXPECT_EQ((*none)["rows"][0]["revenue"], nullptr);
  EXPECT_EQ((*none)["rows"][0]["per_line"], nullptr);
  auto having = f.Run({{"measures", {"revenue"}}, {"dimensions", {"country"}}, {"filters", {{{"measure", "revenue"}, {"op", "gt"}, {"value", 100}}}}});
  ASSERT_TRUE(having.ok());
  EXPECT_EQ((*having)["rows"].size(), 2u);
}

TEST(CubeQuery, RefusesBadQueries) {
  Fixture f;
  const std::vector<json> bad = {
      json::array(),
      {{"measures", json::array()}},
      {{"measures", {"nope"}}},
      {{"measures", {"revenue"}}, {"dimensions", {"time.fortnight"}}},
      {{"measures", {"revenue"}}, {"filters", {{{"dimension", "country"}, {"op", "like"}, {"value", "x"}}}}},
      {{"measures", {"revenue"}}, {"filters", {{{"dimension", "country"}, {"op", "between"}, {"value", "x"}}}}},
      {{"measures", {"revenue"}}, {"filters", {{{"dimension", "time"}, {"op", "gt"}, {"value", "yesterday"}}}}},
      {{"measures", {"revenue"}}, {"limit", 0}},
      {{"measures", {"revenue"}}, {"order", {"lines"}}},
      {{"measures", {"revenue"}}, {"compare", {{"to", "previous_period"}}}},
      {{"measures", {"revenue"}}, {"totals", "all"}},
      {{"measures", {"revenue"}}, {"colour", 1}},
  };
  for (const auto& q : bad) {
    auto r = f.Run(q);
    EXPECT_FALSE(r.ok()) << q.dump();
    if (!r.ok()) {
      EXPECT_TRUE(r.status().code() == Code::kBadRequest || r.status().code() == Code::kInvalidJson) << q.dump();
    }
  }
}

TEST(CubeQuery, DrillsAlongHierarchies) {
  CubeSpec s = Spec();
  auto q = ParseQuery({{"measures", {"revenue"}}, {"dimensions", {"time.year", "country.region"}}}, s);
  ASSERT_TRUE(q.ok());
  auto down = Drill(s, *q, "time.year", json("2011"), true);
  ASSERT_TRUE(down.ok()) << down.status().message();
  EXPECT_EQ(down->dimensions[0], "time.quarter");
  ASSERT_EQ(down->filters.size(), 1u);
  EXPECT_EQ(down->filters[0].dimension, "time.year");
  auto down2 = Drill(s, *down, "country.region", json("Europe"), true);
  ASSERT_TRUE(down2.ok());
  EXPECT_EQ(down2->dimensions[1], "country");
  auto up = Drill(s, *down2, "time.quarter", std::nullopt, false);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->dimensions[0], "time.year");
  ASSERT_EQ(up->filters.size(), 1u);  // the year's filter went; the region's stayed
  EXPECT_EQ(up->filters[0].dimension, "country.region");
  EXPECT_FALSE(Drill(s, *q, "time.year", std::nullopt, false).ok());   // the coarsest
  EXPECT_FALSE(Drill(s, *down2, "country", json("France"), true).ok());  // the finest
}

TEST(CubeQuery, PreAggregationsAnswerWhatTheyHold) {
  Fixture f;
  auto pre = olap::BuildPreAggregate(f.table, {0}, olap::TimeLevel::kMonth, 1, size_t{1} << 26);
  ASSERT_TRUE(pre.ok());
  auto needs = [&](const json& q) { return *NeedsOf(f.spec, *ParseQuery(q, f.spec)); };
  EXPECT_TRUE(CanAnswer(**pre, needs({{"measures", {"revenue"}}, {"dimensions", {"country.region", "time.quarter"}}})));
  EXPECT_FALSE(CanAnswer(**pre, needs({{"measures", {"revenue"}}, {"dimensions", {"country"}}})));
  EXPECT_FALSE(CanAnswer(**pre, needs({{"measures", {"revenue"}}, {"dimensions", {"time.week"}}})));
  EXPECT_TRUE(CanAnswer(**pre, needs({{"measures", {"revenue"}}, {"filters", {{{"dimension", "time"}, {"op", "gte"}, {"value", "2011-02"}}}}})));
  EXPECT_FALSE(CanAnswer(**pre, needs({{"measures", {"revenue"}}, {"filters", {{{"dimension", "time"}, {"op", "gte"}, {"value", "2011-02-15"}}}}})));
  // The same answer from both.
  const json q = {{"measures", {"revenue", "lines", "customers"}}, {"dimensions", {"country.region", "time.quarter"}}, {"totals", "cube"}};
  auto a = Execute(f.spec, f.table, *ParseQuery(q, f.spec), ExecOptions{1, size_t{1} << 26}, nullptr);
  auto b = Execute(f.spec, **pre, *ParseQuery(q, f.spec), ExecOptions{1, size_t{1} << 26}, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)["rows"], (*b)["rows"]);
}

TEST(Sql, TranslatesTheSubset) {
  CubeSpec s = Spec();
  auto q = SqlToQuery(
      "SELECT country.region, time.month, SUM(revenue), MEASURE(customers), COUNT(*) FROM sales "
      "WHERE country IN ('France', 'Spain') AND time BETWEEN '2011-01-01' AND '2011-03-31' AND country.region LIKE 'Eu%' "
      "GROUP BY ROLLUP(1, 2) HAVING revenue > 10 ORDER BY 3 DESC, country.region LIMIT 5 OFFSET 1;",
      s);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ((*q)["measures"], json({"revenue", "customers", "lines"}));
  EXPECT_EQ((*q)["dimensions"], json({"country.region", "time.month"}));
  EXPECT_EQ((*q)["totals"], "rollup");
  EXPECT_EQ((*q)["filters"].size(), 4u);
  EXPECT_EQ((*q)["filters"][2]["op"], "starts_with");
  EXPECT_EQ((*q)["filters"][3]["measure"], "revenue");
  EXPECT_EQ((*q)["order"][0], json({{"by", "revenue"}, {"desc", true}}));
  EXPECT_EQ((*q)["limit"], 5);
  EXPECT_EQ((*q)["offset"], 1);
  EXPECT_TRUE(ParseQuery(*q, s).ok());
  EXPECT_EQ(*SqlCube("select a from \"sales\""), "sales");
}

TEST(Sql, RefusesWhatItDoesNotSpeak) {
  CubeSpec s = Spec();
  for (const char* bad : {"", "SELECT", "SELECT country FROM other", "SELECT AVG(revenue) FROM sales", "SELECT country AS c FROM sales",
                          "SELECT nothing FROM sales", "SELECT country FROM sales WHERE revenue > 1",
                          "SELECT country FROM sales WHERE country = 'a' OR country = 'b'", "SELECT country, revenue FROM sales GROUP BY time.year",
                          "SELECT country FROM sales LIMIT 5 WHERE country = 'a'", "SELECT SUM(country) FROM sales",
                          "SELECT country FROM sales WHERE country LIKE '%a'", "SELECT 'x FROM sales"}) {
    EXPECT_FALSE(SqlToQuery(bad, s).ok()) << bad;
  }
}

TEST(Anomaly, FindsASpikeAgainstTheWeeklyPattern) {
  // Eight weeks of a weekly pattern (weekends low), a spike on one Tuesday and a drop on a Friday.
  std::vector<std::optional<double>> s;
  for (int d = 0; d < 56; ++d) s.push_back(d % 7 >= 5 ? 10.0 + d % 3 : 100.0 + (d * 7) % 5);
  s[37] = 300.0;
  s[46] = 20.0;
  auto scored = DetectAnomalies(s, 7, 3.5);
  std::vector<int> flagged;
  for (int d = 0; d < 56; ++d) {
    if (scored[d].anomaly) flagged.push_back(d);
  }
  EXPECT_EQ(flagged, (std::vector<int>{37, 46}));
  EXPECT_GT(*scored[37].score, 3.5);
  EXPECT_LT(*scored[46].score, -3.5);
  EXPECT_FALSE(scored[5].anomaly);  // weekends are low every week: not anomalies with the season
  EXPECT_FALSE(scored[0].baseline.has_value());
  // Without the season the same weekends look like drops.
  auto flat = DetectAnomalies(s, 0, 3.5);
  int weekend_flags = 0;
  for (int d = 7; d < 56; ++d) weekend_flags += flat[d].anomaly && d % 7 >= 5;
  EXPECT_GT(weekend_flags, 0);
}

}  // namespace
}  // namespace aimass::cube
