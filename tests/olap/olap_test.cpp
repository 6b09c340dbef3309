// The cube engine against answers computed the slow, obvious way: the calendar's levels, the
// expression language, chunk files (and their refusal of damage), and filter + group-by over
// random tables, dense and hashed, with exact and approximate count distinct, ROLLUP and CUBE
// totals, pre-aggregations that answer exactly as the base rows do, and the memory limit.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "common/file.hpp"
#include "olap/aggregation.hpp"
#include "olap/calendar.hpp"
#include "olap/chunk_builder.hpp"
#include "olap/expression.hpp"
#include "olap/hyperloglog.hpp"
#include "olap/table.hpp"

namespace aimass::olap {
namespace {

TEST(Calendar, LevelsOfATimestamp) {
  const int64_t t = *ParseTime("2011-01-04T10:30:00Z");  // a Tuesday
  EXPECT_EQ(RenderKey(TimeLevel::kYear, LevelKey(TimeLevel::kYear, t)), "2011");
  EXPECT_EQ(RenderKey(TimeLevel::kQuarter, LevelKey(TimeLevel::kQuarter, t)), "2011-Q1");
  EXPECT_EQ(RenderKey(TimeLevel::kMonth, LevelKey(TimeLevel::kMonth, t)), "2011-01");
  EXPECT_EQ(RenderKey(TimeLevel::kWeek, LevelKey(TimeLevel::kWeek, t)), "2011-01-03");
  EXPECT_EQ(RenderKey(TimeLevel::kDay, LevelKey(TimeLevel::kDay, t)), "2011-01-04");
  EXPECT_EQ(RenderKey(TimeLevel::kHour, LevelKey(TimeLevel::kHour, t)), "2011-01-04T10:00");
  EXPECT_EQ(LevelKey(TimeLevel::kWeekday, t), 2);
  EXPECT_EQ(LevelKey(TimeLevel::kHourOfDay, t), 10);
  EXPECT_EQ(LevelKey(TimeLevel::kWeekday, 0), 4);  // 1970-01-01 was a Thursday
  // Before the epoch, floors not truncations.
  EXPECT_EQ(RenderKey(TimeLevel::kDay, LevelKey(TimeLevel::kDay, -1)), "1969-12-31");
  EXPECT_EQ(RenderKey(TimeLevel::kHour, LevelKey(TimeLevel::kHour, -1)), "1969-12-31T23:00");
}

TEST(Calendar, KeysRoundTripAndStartTheirPeriod) {
  for (int lv = 0; lv <= static_cast<int>(TimeLevel::kHour); ++lv) {
    const auto level = static_cast<TimeLevel>(lv);
    for (int64_t t : {*ParseTime("2010-12-01T08:26:00Z"), *ParseTime("2011-12-09T12:50:00Z"), *ParseTime("2012-02-29")}) {
      const int64_t k = LevelKey(level, t);
      EXPECT_EQ(ParseKey(level, RenderKey(level, k)), k) << TimeLevelName(level) << " " << RenderKey(level, k);
      EXPECT_LE(KeyStart(level, k), t);
      EXPECT_EQ(LevelKey(level, KeyStart(level, k)), k);
      EXPECT_NE(LevelKey(level, KeyStart(level, k) - 1), k);
    }
  }
}

TEST(Calendar, ParsesTimesAndRefusesOthers) {
  EXPECT_EQ(ParseTime("1970-01-02"), 86400);
  EXPECT_EQ(ParseTime("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(ParseTime("1970-01-01 00:00:10"), 10);
  EXPECT_EQ(ParseTime("1970-01"), 0);
  EXPECT_EQ(ParseTime("1971"), 365 * 86400);
  EXPECT_EQ(ParseTime("86400000"), 86400000);
  for (const char* bad : {"", "2011-13-01", "2011-02-30", "2011-01-01T25:00", "soon", "2011-01-01T10:00+5"}) {
    EXPECT_FALSE(ParseTime(bad).has_value()) << bad;
  }
  EXPECT_EQ(ParseKey(TimeLevel::kQuarter, "2011-Q3"), 2011 * 4 + 2);
  EXPECT_FALSE(ParseKey(TimeLevel::kQuarter, "2011-Q5").has_value());
  EXPECT_FALSE(ParseKey(TimeLevel::kWeekday, "8").has_value());
}

TEST(Calendar, ShiftsByPeriodAndYear) {
  const int64_t m = *ParseKey(TimeLevel::kMonth, "2011-03");
  EXPECT_EQ(RenderKey(TimeLevel::kMonth, ShiftKey(TimeLevel::kMonth, m, Shift::kPreviousPeriod)), "2011-02");
  EXPECT_EQ(RenderKey(TimeLevel::kMonth, ShiftKey(TimeLevel::kMonth, m, Shift::kPreviousYear)), "2010-03");
  const int64_t d = *ParseKey(TimeLevel::kDay, "2012-02-29");
  EXPECT_EQ(RenderKey(TimeLevel::kDay, ShiftKey(TimeLevel::kDay, d, Shift::kPreviousYear)), "2011-02-28");
  EXPECT_EQ(ShiftTime(TimeLevel::kMonth, *ParseTime("2011-03-31"), Shift::kPreviousPeriod), *ParseTime("2011-02-28"));
  EXPECT_EQ(ShiftTime(TimeLevel::kWeek, *ParseTime("2011-03-31"), Shift::kPreviousYear), *ParseTime("2010-04-01"));
}

class Columns : public ExprSource {
 public:
  std::map<std::string, std::vector<std::optional<double>>> numbers;
  std::map<std::string, std::vector<std::string>> texts;
  size_t n = 0;
  size_t rows() const override { return n; }
  Status Numbers(const std::string& c, std::vector<double>* v, std::vector<uint8_t>* ok) const override {
    auto it = numbers.find(c);
    if (it == numbers.end()) return Status::BadRequest("no column " + c);
    v->clear(), ok->clear();
    for (const auto& x : it->second) v->push_back(x.value_or(0)), ok->push_back(x.has_value());
    return Status::Ok();
  }
  Status Texts(const std::string& c, std::vector<std::string>* v, std::vector<uint8_t>* ok) const override {
    auto it = texts.find(c);
    if (it == texts.end()) return Status::BadRequest("no text column " + c);
    *v = it->second;
    ok->assign(v->size(), 1);
    return Status::Ok();
  }
};

TEST(Expression, EvaluatesWithNullsAndPrecedence) {
  Columns src;
  src.n = 3;
  src.numbers["Quantity"] = {2, -1, std::nullopt};
  src.numbers["Unit Price"] = {1.5, 4, 2};
  src.texts["Country"] = {"France", "Spain", "France"};
  auto e = Expression::Parse("Quantity * \"Unit Price\" + 1");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->Names(), (std::vector<std::string>{"Quantity", "Unit Price"}));
  std::vector<double> v;
  std::vector<uint8_t> ok;
  ASSERT_TRUE(e->Evaluate(src, &v, &ok).ok());
  EXPECT_EQ(v[0], 4);
  EXPECT_EQ(v[1], -3);
  EXPECT_EQ(ok[2], 0);
  auto f = Expression::Parse("if(Quantity > 0 and Country = 'France', 1, 0) + coalesce(Quantity, 10) / 2");
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_TRUE(f->Evaluate(src, &v, &ok).ok());
  EXPECT_EQ(v[0], 2);
  EXPECT_EQ(v[1], -0.5);
  EXPECT_EQ(v[2], 5);
  auto div = Expression::Parse("Quantity / 0");
  ASSERT_TRUE(div->Evaluate(src, &v, &ok).ok());
  EXPECT_EQ(ok[0], 0);
  auto scalar = Expression::Parse("revenue / orders");
  EXPECT_EQ(scalar->EvaluateScalar({{"revenue", 10.0}, {"orders", 4.0}}), 2.5);
  EXPECT_FALSE(scalar->EvaluateScalar({{"revenue", 10.0}, {"orders", 0.0}}).has_value());
  EXPECT_FALSE(scalar->EvaluateScalar({{"revenue", std::nullopt}, {"orders", 1.0}}).has_value());
}

TEST(Expression, RefusesWhatItCannotRead) {
  for (const char* bad : {"", "1 +", "(1", "a b", "sqrt(4)", "if(1, 2)", "'unclosed", "1 $ 2", "1 2"}) {
    EXPECT_FALSE(Expression::Parse(bad).ok()) << bad;
  }
  std::string deep(200, '(');
  EXPECT_FALSE(Expression::Parse(deep + "1" + std::string(200, ')')).ok());
  Columns src;
  src.n = 1;
  EXPECT_FALSE(Expression::Parse("missing + 1")->Evaluate(src, nullptr, nullptr).ok());
}

TEST(HyperLogLog, EstimatesWithinItsError) {
  for (uint32_t n : {10u, 1000u, 50000u}) {
    HyperLogLog h, a, b;
    for (uint32_t i = 1; i <= n; ++i) {
      h.AddCode(i);
      (i % 2 ? a : b).AddCode(i);
      a.AddCode(i % 7 + 1);  // repeats change nothing
    }
    a.Merge(b);
    EXPECT_NEAR(h.Estimate(), n, std::max(1.0, n * 0.05)) << n;
    EXPECT_EQ(a.Estimate(), h.Estimate());
  }
}

// A random table: two code columns (a few and many values), time over two years, a value
// measure with nulls, and a distinct measure.
struct Fixture {
  Table table;
  std::vector<uint32_t> a, b, cust;
  std::vector<int64_t> t;
  std::vector<std::optional<double>> v;
};

Fixture MakeTable(size_t rows, uint32_t b_values, size_t chunk_rows, uint32_t seed = 7) {
  Fixture f;
  std::mt19937 rng(seed);
  auto da = std::make_shared<Dictionary>(), db = std::make_shared<Dictionary>(), dc = std::make_shared<Dictionary>();
  for (int i = 0; i < 5; ++i) da->Add("a" + std::to_string(i));
  for (uint32_t i = 0; i < b_values; ++i) db->Add("b" + std::to_string(i));
  for (int i = 0; i < 3000; ++i) dc->Add("c" + std::to_string(i));
  f.table.schema.code_columns = {"a", "b"};
  f.table.schema.has_time = true;
  f.table.schema.measures = {{"value", false}, {"customers", true}};
  f.table.code_dicts = {da, db};
  f.table.distinct_dicts = {nullptr, dc};
  const int64_t t0 = *ParseTime("2010-12-01");
  for (size_t i = 0; i < rows; ++i) {
    f.a.push_back(rng() % 6);  // 0 is null
    f.b.push_back(1 + rng() % b_values);
    f.cust.push_back(rng() % 3001);
    f.t.push_back(t0 + static_cast<int64_t>(rng() % (730u * 86400u)));
    f.v.push_back(rng() % 10 == 0 ? std::nullopt : std::optional<double>(static_cast<int>(rng() % 2001) - 1000));
  }
  for (size_t s = 0; s < rows; s += chunk_rows) {
    const size_t e = std::min(rows, s + chunk_rows);
    ChunkInput in;
    in.codes = {{f.a.begin() + s, f.a.begin() + e}, {f.b.begin() + s, f.b.begin() + e}};
    in.times.assign(f.t.begin() + s, f.t.begin() + e);
    in.values.resize(2), in.valid.resize(2), in.distinct.resize(2);
    for (size_t i = s; i < e; ++i) in.values[0].push_back(f.v[i].value_or(0)), in.valid[0].push_back(f.v[i].has_value());
    in.distinct[1].assign(f.cust.begin() + s, f.cust.begin() + e);
    f.table.AddChunk(MakeChunk(std::move(in)));
  }
  return f;
}

struct Expected {
  double rows = 0, sum = 0, count = 0, mn = INFINITY, mx = -INFINITY;
  std::set<uint32_t> customers;
};

// The slow answer: keys per row by the calendar's own functions.
std::map<std::vector<int64_t>, Expected> BruteForce(const Fixture& f, const std::vector<GroupKey>& by, uint32_t keep,
                                                    const std::function<bool(size_t)>& where) {
  std::map<std::vector<int64_t>, Expected> out;
  for (size_t i = 0; i < f.a.size(); ++i) {
    if (!where(i)) continue;
    std::vector<int64_t> k;
    for (size_t g = 0; g < by.size(); ++g) {
      int64_t key = by[g].time ? LevelKey(by[g].level, f.t[i]) : (by[g].column == 0 ? f.a[i] : f.b[i]);
      k.push_back(keep >> g & 1 ? key : 0);
    }
    Expected& e = out[k];
    e.rows += 1;
    if (f.v[i]) e.sum += *f.v[i], e.count += 1, e.mn = std::min(e.mn, *f.v[i]), e.mx = std::max(e.mx, *f.v[i]);
    if (f.cust[i]) e.customers.insert(f.cust[i]);
  }
  return out;
}

AggregationQuery AllAggregates(std::vector<GroupKey> by) {
  AggregationQuery q;
  q.group_by = std::move(by);
  q.aggregates = {{Agg::kRows, 0}, {Agg::kSum, 0}, {Agg::kCount, 0}, {Agg::kAvg, 0}, {Agg::kMin, 0},
                  {Agg::kMax, 0},  {Agg::kCountDistinct, 1}, {Agg::kApproxDistinct, 1}};
  return q;
}

void ExpectRows(const std::vector<ResultRow>& rows, const std::map<std::vector<int64_t>, Expected>& want, uint32_t grouping) {
  size_t seen = 0;
  for (const auto& r : rows) {
    if (r.grouping != grouping) continue;
    ++seen;
    auto it = want.find(r.keys);
    ASSERT_NE(it, want.end());
    const Expected& e = it->second;
    EXPECT_EQ(r.values[0], e.rows);
    if (e.count) {
      EXPECT_NEAR(*r.values[1], e.sum, 1e-6);
      EXPECT_NEAR(*r.values[3], e.sum / e.count, 1e-9);
      EXPECT_EQ(r.values[4], e.mn);
      EXPECT_EQ(r.values[5], e.mx);
    } else {
      EXPECT_FALSE(r.values[1].has_value());
      EXPECT_FALSE(r.values[4].has_value());
    }
    EXPECT_EQ(r.values[2], e.count);
    EXPECT_EQ(r.values[6], static_cast<double>(e.customers.size()));
    EXPECT_NEAR(*r.values[7], static_cast<double>(e.customers.size()), std::max(2.0, e.customers.size() * 0.06));
  }
  EXPECT_EQ(seen, want.size());
}

TEST(Aggregate, DenseGroupsMatchTheSlowAnswer) {
  Fixture f = MakeTable(20000, 40, 3000);
  auto q = AllAggregates({{false, 0}, {true, 0, TimeLevel::kMonth}});
  q.threads = 3;
  auto r = Aggregate(f.table, q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectRows(r->rows, BruteForce(f, q.group_by, 3, [](size_t) { return true; }), 0);
  EXPECT_EQ(r->rows_scanned, 20000u);
}

TEST(Aggregate, HashedGroupsMatchTheSlowAnswer) {
  // 5,000 b values × hours over two years: far past the dense limit.
  Fixture f = MakeTable(20000, 5000, 4096);
  auto q = AllAggregates({{false, 1}, {true, 0, TimeLevel::kHour}});
  q.threads = 2;
  auto r = Aggregate(f.table, q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ExpectRows(r->rows, BruteForce(f, q.group_by, 3, [](size_t) { return true; }), 0);
}

TEST(Aggregate, FiltersAndZoneMaps) {
  Fixture f = MakeTable(30000, 40, 2000);
  // Time-ordered chunks so the zone maps can skip: sort the rows by time first.
  std::vector<size_t> idx(f.t.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return f.t[x] < f.t[y]; });
  Fixture g;
  for (size_t i : idx) g.a.push_back(f.a[i]), g.b.push_back(f.b[i]), g.cust.push_back(f.cust[i]), g.t.push_back(f.t[i]), g.v.push_back(f.v[i]);
  g.table = f.table;
  g.table.chunks.clear(), g.table.chunk_files.clear(), g.table.rows = 0;
  for (size_t s = 0; s < g.t.size(); s += 2000) {
    const size_t e = std::min(g.t.size(), s + 2000);
    ChunkInput in;
    in.codes = {{g.a.begin() + s, g.a.begin() + e}, {g.b.begin() + s, g.b.begin() + e}};
    in.times.assign(g.t.begin() + s, g.t.begin() + e);
    in.values.resize(2), in.valid.resize(2), in.distinct.resize(2);
    for (size_t i = s; i < e; ++i) in.values[0].push_back(g.v[i].value_or(0)), in.valid[0].push_back(g.v[i].has_value());
    in.distinct[1].assign(g.cust.begin() + s, g.cust.begin() + e);
    g.table.AddChunk(MakeChunk(std::move(in)));
  }
  auto q = AllAggregates({{false, 1}});
  q.code_filters.push_back({0, {0, 1, 0, 1, 0, 0}});  // a1, a3
  q.time_from = *ParseTime("2011-03-01");
  q.time_to = *ParseTime("2011-05-01");
  q.time_key_filters.push_back({TimeLevel::kWeekday, {6, 7}, true});  // weekdays only
  auto r = Aggregate(g.table, q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto where = [&](size_t i) {
    const int64_t wd = LevelKey(TimeLevel::kWeekday, g.t[i]);
    return (g.a[i] == 1 || g.a[i] == 3) && g.t[i] >= q.time_from && g.t[i] < q.time_to && wd < 6;
  };
  ExpectRows(r->rows, BruteForce(g, q.group_by, 1, where), 0);
  EXPECT_GT(r->chunks_skipped, 10u);
}

TEST(Aggregate, RollupAndCubeTotals) {
  Fixture f = MakeTable(10000, 7, 1500);
  auto q = AllAggregates({{false, 0}, {false, 1}, {true, 0, TimeLevel::kQuarter}});
  q.grouping_sets = {7, 3, 1, 0, 4, 6};  // rollup's sets and two more of the cube's
  auto r = Aggregate(f.table, q);
  ASSERT_TRUE(r.ok()) << r.status().message();
  for (uint32_t set : q.grouping_sets) {
    ExpectRows(r->rows, BruteForce(f, q.group_by, set, [](size_t) { return true; }), ~set & 7);
  }
  // The grand total is one row with every row counted.
  for (const auto& row : r->rows) {
    if (row.grouping == 7) {
      EXPECT_EQ(row.values[0], 10000);
    }
  }
}

TEST(Aggregate, PreAggregationAnswersAsTheBaseRows) {
  Fixture f = MakeTable(15000, 30, 2500);
  auto pre = BuildPreAggregate(f.table, {0, 1}, TimeLevel::kDay, 2, size_t{1} << 30);
  ASSERT_TRUE(pre.ok()) << pre.status().message();
  EXPECT_LT((*pre)->rows, f.table.rows);
  // The same question of both: by a and month, a filter on b, rollup totals.
  for (bool use_pre : {false, true}) {
    const Table& t = use_pre ? **pre : f.table;
    auto q = AllAggregates({{false, 0}, {true, 0, TimeLevel::kMonth}});
    const size_t b_col = use_pre ? 1 : 1;
    std::vector<uint8_t> allowed(31, 0);
    for (uint32_t c = 1; c <= 30; c += 2) allowed[c] = 1;
    q.code_filters.push_back({b_col, allowed});
    q.time_from = *ParseTime("2011-02-01");
    q.grouping_sets = {3, 1, 0};
    auto r = Aggregate(t, q);
    ASSERT_TRUE(r.ok()) << r.status().message();
    auto where = [&](size_t i) { return f.b[i] % 2 == 1 && f.t[i] >= q.time_from; };
    for (uint32_t set : q.grouping_sets) ExpectRows(r->rows, BruteForce(f, q.group_by, set, where), ~set & 3);
  }
}

TEST(Aggregate, DecimalSumsAreExactInAnyOrder) {
  // Prices with cents: a double sum depends on its order; these are added as whole cents.
  Fixture f = MakeTable(30000, 10, 1000, 11);
  std::mt19937 rng(5);
  Table t = f.table;
  t.chunks.clear(), t.chunk_files.clear(), t.rows = 0;
  for (size_t s = 0; s < f.t.size(); s += 1000) {
    ChunkInput in;
    in.codes = {{f.a.begin() + s, f.a.begin() + s + 1000}, {f.b.begin() + s, f.b.begin() + s + 1000}};
    in.times.assign(f.t.begin() + s, f.t.begin() + s + 1000);
    in.values.resize(2), in.valid.resize(2), in.distinct.resize(2);
    for (size_t i = 0; i < 1000; ++i) in.values[0].push_back((static_cast<int>(rng() % 200001) - 100000) / 100.0 * 3), in.valid[0].push_back(1);
    in.distinct[1].assign(f.cust.begin() + s, f.cust.begin() + s + 1000);
    t.AddChunk(MakeChunk(std::move(in)));
  }
  EXPECT_EQ(t.chunks[0]->measures[0].sum.decimals, 2);
  auto q = AllAggregates({{false, 0}});
  q.grouping_sets = {1, 0};
  q.threads = 1;
  auto one = Aggregate(t, q);
  q.threads = 3;
  auto three = Aggregate(t, q);
  auto pre = BuildPreAggregate(t, {0, 1}, TimeLevel::kDay, 2, size_t{1} << 30);
  ASSERT_TRUE(one.ok() && three.ok() && pre.ok());
  auto from_pre = Aggregate(**pre, q);
  ASSERT_TRUE(from_pre.ok());
  ASSERT_EQ(one->rows.size(), from_pre->rows.size());
  for (size_t i = 0; i < one->rows.size(); ++i) {
    EXPECT_EQ(one->rows[i].values[1], three->rows[i].values[1]);  // bit for bit
    EXPECT_EQ(one->rows[i].values[1], from_pre->rows[i].values[1]);
    EXPECT_EQ(one->rows[i].values[3], from_pre->rows[i].values[3]);  // the average too
  }
  // A column that is not decimal keeps the double sum.
  ValueColumn irrational;
  irrational.values = {1.0 / 3, 2.0};
  irrational.ComputeZone();
  EXPECT_EQ(irrational.decimals, -1);
}

TEST(Aggregate, RefusesAQueryOverItsMemory) {
  Fixture f = MakeTable(20000, 5000, 4096);
  auto q = AllAggregates({{false, 1}, {true, 0, TimeLevel::kHour}});
  q.memory_limit = 256 * 1024;
  auto r = Aggregate(f.table, q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPayloadTooLarge);
  EXPECT_NE(r.status().message().find("MiB"), std::string::npos);
}

TEST(Table, SavesLoadsAndRefusesDamage) {
  Fixture f = MakeTable(9000, 20, 4000);
  const std::string dir = ::testing::TempDir() + "/olap-table-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(SaveTable(f.table, dir, {{"source", "x"}}).ok());
  auto loaded = LoadTable(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->second["source"], "x");
  auto q = AllAggregates({{false, 0}, {true, 0, TimeLevel::kYear}});
  auto r1 = Aggregate(f.table, q), r2 = Aggregate(*loaded->first, q);
  ASSERT_TRUE(r1.ok() && r2.ok());
  ASSERT_EQ(r1->rows.size(), r2->rows.size());
  for (size_t i = 0; i < r1->rows.size(); ++i) EXPECT_EQ(r1->rows[i].values, r2->rows[i].values);
  // Saving again writes only what is new, and drops nothing still named.
  const auto files = f.table.chunk_files;
  ASSERT_TRUE(SaveTable(f.table, dir, {}).ok());
  EXPECT_EQ(files, f.table.chunk_files);
  // A flipped byte in a chunk is a clear error, not a crash.
  const std::string chunk = dir + "/" + f.table.chunk_files[0];
  std::string data = *ReadFile(chunk);
  std::string bad = data;
  bad[10] ^= 0x5a;  // the row count: the columns no longer agree with it
  EXPECT_FALSE(ChunkCodec::Decode(bad, 2, 2).ok());
  for (size_t pos = 20; pos < data.size(); pos += 97) {  // anywhere else: decoded or refused, never a crash
    bad = data;
    bad[pos] ^= 0x5a;
    auto d = ChunkCodec::Decode(bad, 2, 2);
    if (d.ok()) {
      EXPECT_EQ(d->rows, 4000u);
    }
  }
  EXPECT_FALSE(ChunkCodec::Decode(data.substr(0, data.size() - 1), 2, 2).ok());
  EXPECT_FALSE(ChunkCodec::Decode(data, 3, 2).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aimass::olap
