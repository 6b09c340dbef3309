// The behavior module's parts: events parsed and logged, the project's columns, checkpoints
// and recovery, identity merging, and every insight against small hand-computed fixtures.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "behavior/churn.hpp"
#include "behavior/event.hpp"
#include "behavior/insights.hpp"
#include "behavior/project.hpp"
#include "clv/rfm.hpp"
#include "common/time.hpp"

namespace aimass::behavior {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class Dir {
 public:
  Dir() {
    path_ = fs::temp_directory_path() / ("aimass-behavior-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
  }
  ~Dir() { fs::remove_all(path_); }
  std::string str() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

Event E(const std::string& who, const std::string& name, const std::string& when, json props = json::object(), std::string uuid = "") {
  Event e;
  e.distinct_id = who;
  e.event = name;
  e.time_ms = *ParseRfc3339Ms(when);
  e.properties = std::move(props);
  e.uuid = std::move(uuid);
  return e;
}

std::unique_ptr<Project> Open(const std::string& dir) {
  ProjectOptions o;
  o.dir = dir;
  o.fsync = false;
  auto p = Project::Open("test", o);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return std::move(*p);
}

json Ask(Project& p, Result<json> (*fn)(InsightContext&, const json&), const json& req, int threads = 2) {
  InsightContext ctx{p, p.Take(), {}, threads, *ParseRfc3339Ms("2024-02-01T00:00:00Z")};
  auto r = fn(ctx, req);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : json();
}

// Four persons opening an app over four days (D0 = 2024-01-01), the day before included.
void OpenFixture(Project& p) {
  ASSERT_TRUE(p.Capture({E("u4", "open", "2023-12-31T12:00:00Z"), E("u1", "open", "2024-01-01T09:00:00Z"),
                         E("u1", "open", "2024-01-01T18:00:00Z"), E("u2", "open", "2024-01-01T10:00:00Z")})
                  .ok());
  // A second batch, so that persons have events in several parts once frozen between them.
  (void)p.Take();
  ASSERT_TRUE(p.Capture({E("u1", "open", "2024-01-02T09:00:00Z"), E("u3", "open", "2024-01-02T11:00:00Z"),
                         E("u4", "open", "2024-01-02T12:00:00Z"), E("u2", "open", "2024-01-03T10:00:00Z"),
                         E("u3", "open", "2024-01-03T11:00:00Z"), E("u1", "open", "2024-01-04T09:00:00Z")})
                  .ok());
}

const json kDays = {{"interval", "day"}, {"date_from", "2024-01-01"}, {"date_to", "2024-01-04"}};

json With(json base, const json& more) {
  base.update(more);
  return base;
}

TEST(Event, CaptureBodiesAndRefusals) {
  auto one = ParseCapture(json{{"event", "open"}, {"distinct_id", 42}, {"timestamp", "2024-01-01T00:00:00.250Z"}}, 0);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)[0].distinct_id, "42");
  EXPECT_EQ((*one)[0].time_ms, *ParseRfc3339Ms("2024-01-01T00:00:00Z") + 250);
  auto batch = ParseCapture(json{{"batch", {{{"event", "a"}, {"distinct_id", "x"}}, {{"event", "b"}, {"distinct_id", "y"}}}}}, 7);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->size(), 2u);
  EXPECT_EQ((*batch)[1].time_ms, 7);  // no timestamp: now
  auto bad = ParseCapture(json{{"batch", {{{"event", "a"}, {"distinct_id", "x"}}, {{"event", "b"}}}}}, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("batch[1]"), std::string::npos);
  EXPECT_FALSE(ParseCapture(json{{"event", "a"}, {"distinct_id", "x"}, {"timestamp", "yesterday"}}, 0).ok());
  EXPECT_FALSE(ParseCapture(json{{"event", ""}, {"distinct_id", "x"}}, 0).ok());
  EXPECT_FALSE(ParseCapture(json{{"event", "a"}, {"distinct_id", "x"}, {"properties", {{"$set", 3}}}}, 0).ok());
  EXPECT_FALSE(ParseCapture(json{{"batch", json::array()}}, 0).ok());
}

TEST(Event, LogRecordsRoundTripAndRefuseDamage) {
  std::vector<Event> in = {E("u1", "buy", "1969-12-31T23:59:59Z", {{"price", 2.5}, {"tags", {"a", "b"}}}, "id-1"), E("u2", "view", "2024-01-01T00:00:00Z")};
  const std::string data = EncodeEvents(in);
  auto out = DecodeEvents(data);
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].time_ms, in[0].time_ms);
  EXPECT_EQ((*out)[0].properties, in[0].properties);
  EXPECT_EQ((*out)[0].uuid, "id-1");
  EXPECT_EQ((*out)[1].distinct_id, "u2");
  for (size_t cut = 0; cut < data.size(); ++cut) EXPECT_FALSE(DecodeEvents(data.substr(0, cut)).ok()) << cut;
}

TEST(Project, DeduplicatesByUuidAndSurvivesRestarts) {
  Dir dir;
  {
    auto p = Open(dir.str());
    auto n = p->Capture({E("u1", "a", "2024-01-01T00:00:00Z", {}, "e1"), E("u1", "a", "2024-01-01T00:00:00Z", {}, "e1"),
                         E("u2", "a", "2024-01-01T00:00:00Z", {{"plan", "pro"}}, "e2")});
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 2u);
    EXPECT_EQ(*p->Capture({E("u1", "a", "2024-01-01T00:00:00Z", {}, "e1")}), 0u);
    // A checkpoint, then more events only in the log.
    ASSERT_TRUE(p->Maintain(true).ok());
    ASSERT_TRUE(p->Capture({E("u3", "b", "2024-01-02T00:00:00Z", {{"$set", {{"email", "u3@x"}}}}, "e3")}).ok());
    ASSERT_TRUE(p->Alias("u3", "u2").ok());
  }
  auto p = Open(dir.str());
  EXPECT_EQ(p->Stats()["events"], 3);
  EXPECT_EQ(*p->Capture({E("u1", "a", "2024-01-01T00:00:00Z", {}, "e1"), E("u3", "b", "2024-01-02T00:00:00Z", {}, "e3")}), 0u);
  p->Read([](const ProjectState& s) {
    const uint32_t u2 = *s.distinct.Find("u2"), u3 = *s.distinct.Find("u3");
    EXPECT_EQ(s.persons.Root(u2), s.persons.Root(u3));
    const json* props = s.persons.Properties(s.persons.Root(u3));
    ASSERT_NE(props, nullptr);
    EXPECT_EQ((*props)["email"], "u3@x");
    EXPECT_EQ(s.keys[*s.KeyIndex("plan")].dict.size(), 2u);
  });
  // Unique persons count the merged ids once.
  json t = Ask(*p, Trends, {{"event", "$all"}, {"math", "unique"}, {"interval", "month"}, {"date_from", "2024-01-01"}, {"date_to", "2024-01-31"}});
  EXPECT_EQ(t["series"][0]["total"], 2);
}

TEST(Persons, MergesAndPropertiesRoundTrip) {
  Persons p;
  p.Grow(6);
  p.Set(1, {{"plan", "pro"}, {"age", 30}}, false);
  p.Set(2, {{"plan", "free"}, {"city", "Oslo"}}, false);
  p.Set(2, {{"city", "Bergen"}}, true);  // set once: kept as it was
  p.Merge(2, 1);
  p.Merge(3, 2);  // into the person 2 now belongs to
  auto back = Persons::Parse(json::parse(p.Serialize().dump()));
  ASSERT_TRUE(back.ok()) << back.status().message();
  for (const Persons* x : {&p, &*back}) {
    EXPECT_EQ(x->Root(2), 1u);
    EXPECT_EQ(x->Root(3), 1u);
    EXPECT_EQ(x->Root(4), 4u);
    EXPECT_EQ(*x->Properties(1), json({{"plan", "pro"}, {"age", 30}, {"city", "Oslo"}}));
    auto ids = x->Ids(1);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<uint32_t>{1, 2, 3}));
  }
  EXPECT_FALSE(Persons::Parse(json{{"size", 3}, {"properties", {{"9", json::object()}}}}).ok());
  EXPECT_FALSE(Persons::Parse(json{{"size", 3}, {"merged", {{1, 7}}}}).ok());
}

TEST(Project, DamagedPartFileIsRefused) {
  Dir dir;
  {
    auto p = Open(dir.str());
    ASSERT_TRUE(p->Capture({E("u1", "a", "2024-01-01T00:00:00Z")}).ok());
    ASSERT_TRUE(p->Maintain(true).ok());
  }
  for (const auto& e : fs::directory_iterator(dir.str())) {
    if (e.path().filename().string().rfind("part-", 0) == 0) {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(20);
      f.put('\x7f');
    }
  }
  ProjectOptions o;
  o.dir = dir.str();
  EXPECT_FALSE(Project::Open("test", o).ok());
}

TEST(Project, MergedPartsKeepEveryEventInOrder) {
  Dir dir;
  auto p = Open(dir.str());
  for (int batch = 0; batch < 12; ++batch) {
    std::vector<Event> ev;
    for (int i = 0; i < 50; ++i) ev.push_back(E("u" + std::to_string(i % 7), "e", Rfc3339(1704067200 + batch * 100 + i)));
    ASSERT_TRUE(p->Capture(ev).ok());
    (void)p->Take();  // a part per batch
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p->Maintain(false).ok());
  EXPECT_LT(p->Stats()["parts"].get<int>(), 12);
  auto snap = p->Take();
  size_t rows = 0;
  for (const auto& part : snap.parts) {
    rows += part->rows();
    for (size_t r = 1; r < part->rows(); ++r) {
      const auto& c = part->cols;
      ASSERT_TRUE(c.distinct[r - 1] < c.distinct[r] || (c.distinct[r - 1] == c.distinct[r] && c.time[r - 1] <= c.time[r]));
    }
  }
  EXPECT_EQ(rows, 600u);
}

TEST(Insights, TrendsCountsUniquesSumsAndBreakdowns) {
  Dir dir;
  auto p = Open(dir.str());
  OpenFixture(*p);
  ASSERT_TRUE(p->Capture({E("u1", "buy", "2024-01-01T12:00:00Z", {{"amount", 10}, {"country", "UK"}}),
                          E("u2", "buy", "2024-01-01T13:00:00Z", {{"amount", 5.5}, {"country", "FR"}}),
                          E("u1", "buy", "2024-01-02T12:00:00Z", {{"amount", 2}, {"country", "UK"}})})
                  .ok());
  json t = Ask(*p, Trends, With(kDays, {{"series", {{{"event", "open"}}, {{"event", "open"}, {"math", "unique"}}}}}));
  EXPECT_EQ(t["intervals"], json({"2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"}));
  EXPECT_EQ(t["series"][0]["data"], json({3, 3, 2, 1}));
  EXPECT_EQ(t["series"][0]["total"], 9);
  EXPECT_EQ(t["series"][1]["data"], json({2, 3, 2, 1}));
  EXPECT_EQ(t["series"][1]["total"], 4);  // u1, u2, u3, u4 (u4's day before is out of range)
  json s = Ask(*p, Trends, With(kDays, {{"event", "buy"}, {"math", "sum"}, {"math_property", "amount"}}));
  EXPECT_EQ(s["series"][0]["data"], json({15.5, 2, 0, 0}));
  json a = Ask(*p, Trends, With(kDays, {{"event", "buy"}, {"math", "avg"}, {"math_property", "amount"}}));
  EXPECT_EQ(a["series"][0]["data"][0], 7.75);
  EXPECT_TRUE(a["series"][0]["data"][2].is_null());
  json b = Ask(*p, Trends, With(kDays, {{"event", "buy"}, {"math", "sum"}, {"math_property", "amount"}, {"breakdown", "country"}}));
  ASSERT_EQ(b["series"].size(), 2u);
  EXPECT_EQ(b["series"][0]["breakdown_value"], "UK");
  EXPECT_EQ(b["series"][0]["total"], 12);
  EXPECT_EQ(b["series"][1]["breakdown_value"], "FR");
  json f = Ask(*p, Trends, With(kDays, {{"event", "buy"}, {"filters", {{{"key", "amount"}, {"operator", "gt"}, {"value", 3}}}}}));
  EXPECT_EQ(f["series"][0]["total"], 2);
  json m = Ask(*p, Trends, With(kDays, {{"event", "open"}, {"interval", "week"}}));
  EXPECT_EQ(m["intervals"], json({"2024-01-01"}));  // 2024-01-01 is a Monday
}

TEST(Insights, FunnelsOrderedStrictAndUnordered) {
  Dir dir;
  auto p = Open(dir.str());
  ASSERT_TRUE(p->Capture({E("u1", "a", "2024-01-01T10:00:00Z"), E("u1", "b", "2024-01-01T10:05:00Z"), E("u1", "c", "2024-01-01T10:10:00Z"),
                          E("u2", "a", "2024-01-01T10:00:00Z"), E("u2", "x", "2024-01-01T10:10:00Z"), E("u2", "b", "2024-01-01T10:20:00Z"),
                          E("u3", "b", "2024-01-01T10:00:00Z"), E("u3", "a", "2024-01-01T11:00:00Z"),
                          E("u4", "a", "2024-01-01T10:00:00Z"), E("u4", "b", "2024-01-20T10:00:00Z"), E("u5", "c", "2024-01-01T10:00:00Z")})
                  .ok());
  const json base = {{"steps", {"a", "b", "c"}}, {"date_from", "2024-01-01"}, {"date_to", "2024-01-31"}, {"window", "14d"}};
  auto counts = [](const json& r) {
    std::vector<double> c;
    for (const auto& s : r["steps"]) c.push_back(s["count"]);
    return c;
  };
  json ordered = Ask(*p, Funnel, base);
  EXPECT_EQ(counts(ordered), (std::vector<double>{4, 2, 1}));
  EXPECT_EQ(ordered["steps"][1]["average_conversion_time"], 750);  // (300 + 1200) / 2 seconds
  EXPECT_EQ(ordered["steps"][1]["drop_off"], 2);
  EXPECT_EQ(ordered["steps"][2]["conversion_rate"], 0.25);
  EXPECT_EQ(counts(Ask(*p, Funnel, With(base, {{"order", "strict"}}))), (std::vector<double>{4, 1, 1}));
  EXPECT_EQ(counts(Ask(*p, Funnel, With(base, {{"order", "unordered"}}))), (std::vector<double>{5, 3, 1}));
  EXPECT_EQ(counts(Ask(*p, Funnel, With(base, {{"window", "30d"}}))), (std::vector<double>{4, 3, 1}));
}

TEST(Insights, RetentionFirstTimeRecurringAndCumulative) {
  Dir dir;
  auto p = Open(dir.str());
  OpenFixture(*p);
  json first = Ask(*p, Retention, With(kDays, {{"event", "open"}, {"periods", 4}}));
  ASSERT_EQ(first["cohorts"].size(), 4u);
  EXPECT_EQ(first["cohorts"][0]["counts"], json({2, 1, 1, 1}));
  EXPECT_EQ(first["cohorts"][1]["counts"], json({1, 1, 0}));
  EXPECT_EQ(first["cohorts"][2]["counts"], json({0, 0}));
  EXPECT_EQ(first["cohorts"][3]["counts"], json({0}));
  json rec = Ask(*p, Retention, With(kDays, {{"event", "open"}, {"periods", 4}, {"retention_type", "recurring"}}));
  EXPECT_EQ(rec["cohorts"][0]["counts"], json({2, 1, 1, 1}));
  EXPECT_EQ(rec["cohorts"][1]["counts"], json({3, 1, 1}));
  EXPECT_EQ(rec["cohorts"][2]["counts"], json({2, 0}));
  EXPECT_EQ(rec["cohorts"][3]["counts"], json({1}));
  json cum = Ask(*p, Retention, With(kDays, {{"event", "open"}, {"periods", 4}, {"cumulative", true}}));
  EXPECT_EQ(cum["cohorts"][0]["counts"], json({2, 2, 2, 1}));
  // By a person property: u1's plan is pro, u2's free; u3 and u4 have none.
  ASSERT_TRUE(p->SetProperties({{"u1", {{"plan", "pro"}}}, {"u2", {{"plan", "free"}}}}).ok());
  json by = Ask(*p, Retention, With(kDays, {{"event", "open"}, {"periods", 4}, {"breakdown", "plan"}, {"breakdown_type", "person"}}));
  EXPECT_EQ(by["cohorts"][0]["counts"], json({2, 1, 1, 1}));  // all of them, as without the breakdown
  std::map<std::string, json> rows;
  for (const auto& b : by["breakdowns"]) rows[b["value"].is_null() ? "(none)" : b["value"].get<std::string>()] = b["cohorts"];
  EXPECT_EQ(rows["pro"][0]["counts"], json({1, 1, 0, 1}));
  EXPECT_EQ(rows["free"][0]["counts"], json({1, 0, 1, 0}));
  EXPECT_EQ(rows["(none)"][1]["counts"], json({1, 1, 0}));  // u3, first seen on day 2
}

TEST(Insights, LifecycleAndStickiness) {
  Dir dir;
  auto p = Open(dir.str());
  OpenFixture(*p);
  json l = Ask(*p, Lifecycle, With(kDays, {{"event", "open"}}));
  auto at = [&](size_t i) {
    const json& x = l["intervals"][i];
    return std::vector<double>{x["new"], x["returning"], x["resurrecting"], x["dormant"]};
  };
  EXPECT_EQ(at(0), (std::vector<double>{2, 0, 0, 1}));
  EXPECT_EQ(at(1), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(at(2), (std::vector<double>{0, 1, 1, 2}));
  EXPECT_EQ(at(3), (std::vector<double>{0, 0, 1, 2}));
  json s = Ask(*p, Stickiness, With(kDays, {{"event", "open"}}));
  std::vector<double> persons;
  for (const auto& d : s["series"][0]["data"]) persons.push_back(d["persons"]);
  EXPECT_EQ(persons, (std::vector<double>{1, 2, 1, 0}));
}

TEST(Insights, PathsAfterAndBefore) {
  Dir dir;
  auto p = Open(dir.str());
  auto pv = [](const std::string& who, const std::string& page, int minute) {
    return E(who, "$pageview", Rfc3339(1704103200 + minute * 60), {{"$pathname", page}});
  };
  ASSERT_TRUE(p->Capture({pv("u1", "/home", 0), pv("u1", "/search", 1), pv("u1", "/product", 2), pv("u1", "/cart", 3),
                          pv("u2", "/home", 0), pv("u2", "/search", 1), pv("u2", "/search", 2), pv("u2", "/cart", 3),
                          pv("u3", "/home", 0), pv("u3", "/product", 1), pv("u3", "/cart", 90)})
                  .ok());
  const json base = {{"date_from", "2024-01-01"}, {"date_to", "2024-01-31"}, {"node_property", "$pathname"}, {"step_limit", 3}};
  json after = Ask(*p, Paths, With(base, {{"start_point", "/home"}}));
  EXPECT_EQ(after["persons"], 3);
  std::map<std::string, double> edges;
  for (const auto& e : after["edges"]) edges[std::to_string(e["step"].get<int>()) + e["source"].get<std::string>() + ">" + e["target"].get<std::string>()] = e["persons"];
  EXPECT_EQ(edges["1/home>/search"], 2);
  EXPECT_EQ(edges["1/home>/product"], 1);
  EXPECT_EQ(edges["2/search>/cart"], 1);
  EXPECT_EQ(edges["2/search>/product"], 1);
  EXPECT_EQ(edges.size(), 4u);  // u3's /cart came after the session gap
  json before = Ask(*p, Paths, With(base, {{"end_point", "/cart"}}));
  EXPECT_EQ(before["persons"], 3);  // u3 reached /cart alone, after the gap
  for (const auto& path : before["paths"]) EXPECT_EQ(path["nodes"].back(), "/cart");
  std::map<std::string, double> back;
  for (const auto& e : before["edges"]) back[std::to_string(e["step"].get<int>()) + e["source"].get<std::string>() + ">" + e["target"].get<std::string>()] = e["persons"];
  EXPECT_EQ(back, (std::map<std::string, double>{{"1/home>/search", 1}, {"1/search>/product", 1}, {"2/product>/cart", 1}, {"2/search>/cart", 1}}));
}

TEST(Insights, DynamicCohortsAndPersonFilters) {
  Dir dir;
  auto p = Open(dir.str());
  OpenFixture(*p);
  ASSERT_TRUE(p->SetProperties({{"u1", {{"plan", "pro"}}}, {"u3", {{"plan", "free"}}}}).ok());
  InsightContext ctx{*p, p->Take(), {}, 2, 0};
  auto m = CohortMembers(ctx, {{"conditions", {{{"type", "behavior"}, {"event", "open"}, {"min_count", 2}, {"date_from", "2024-01-01"}, {"date_to", "2024-01-04"}}}}});
  ASSERT_TRUE(m.ok()) << m.status().message();
  std::set<std::string> members;
  p->Read([&](const ProjectState& s) {
    for (uint32_t d = 0; d < m->size(); ++d) {
      if ((*m)[d]) members.insert(s.distinct.value(d));
    }
  });
  EXPECT_EQ(members, (std::set<std::string>{"u1", "u2", "u3"}));
  json pro = Ask(*p, Trends, With(kDays, {{"event", "open"}, {"filters", {{{"type", "person"}, {"key", "plan"}, {"value", "pro"}}}}}));
  EXPECT_EQ(pro["series"][0]["total"], 4);  // u1's opens in range
  json not_set = Ask(*p, Trends, With(kDays, {{"event", "open"}, {"math", "unique"}, {"filters", {{{"type", "person"}, {"key", "plan"}, {"operator", "is_not_set"}}}}}));
  EXPECT_EQ(not_set["series"][0]["total"], 2);  // u2, u4
  EXPECT_FALSE(CheckCohortDefinition({{"conditions", {{{"type", "behavior"}}}}}).ok());
}

TEST(Insights, RfmScoresAndLifetimeModels) {
  Dir dir;
  auto p = Open(dir.str());
  std::vector<Event> ev;
  // 60 customers: customer i buys every (i % 6 + 1) weeks from week i % 10, amounts growing with i.
  for (int i = 0; i < 60; ++i) {
    for (int w = i % 10; w < 52; w += i % 6 + 1) {
      ev.push_back(E("c" + std::to_string(i), "purchase", Rfc3339(1672531200 + w * 7 * 86400 + i * 60), {{"amount", 5 + i}}));
    }
  }
  ASSERT_TRUE(p->Capture(ev).ok());
  InsightContext ctx{*p, p->Take(), {}, 2, 0};
  std::vector<std::pair<std::string, json>> written;
  auto rfm = Rfm(ctx, {{"event", "purchase"}, {"value_property", "amount"}, {"date_to", "2023-12-31"}}, &written);
  ASSERT_TRUE(rfm.ok()) << rfm.status().message();
  EXPECT_EQ((*rfm)["customers"], 60);
  EXPECT_EQ(written.size(), 60u);
  double top = 0;
  for (const auto& person : (*rfm)["persons"]) top = std::max(top, person["monetary"].get<double>());
  for (const auto& person : (*rfm)["persons"]) {
    // Customer 0 buys weekly from week 0: the most frequent quintile.
    if (person["distinct_id"] == "c0") EXPECT_EQ(person["f"], 5);
    if (person["monetary"] == top) EXPECT_EQ(person["m"], 5);
    EXPECT_EQ(person["segment"], clv::RfmSegment(person["r"], person["f"]));
  }
  written.clear();
  auto life = Lifetime(ctx, {{"event", "purchase"}, {"value_property", "amount"}, {"date_to", "2023-12-31"}, {"horizon", 30}}, &written);
  ASSERT_TRUE(life.ok()) << life.status().message();
  EXPECT_GT((*life)["bgnbd"]["r"].get<double>(), 0);
  ASSERT_TRUE((*life).contains("gamma_gamma"));
  for (const auto& person : (*life)["persons"]) {
    EXPECT_GE(person["p_alive"].get<double>(), 0);
    EXPECT_LE(person["p_alive"].get<double>(), 1);
  }
}

TEST(Churn, FeaturesLabelsAndAuc) {
  Dir dir;
  auto p = Open(dir.str());
  ASSERT_TRUE(p->Capture({E("a", "open", "2024-01-01T00:00:00Z"), E("a", "open", "2024-01-01T05:00:00Z"), E("a", "buy", "2024-01-03T00:00:00Z"),
                          E("b", "open", "2024-01-09T00:00:00Z"), E("c", "open", "2024-02-01T00:00:00Z"),
                          E("a", "x", "2024-01-01T00:00:00Z", {{"$set", {{"churned", "yes"}}}}), E("b", "x", "2024-01-09T00:00:00Z", {{"$set", {{"churned", false}}}})})
                  .ok());
  InsightContext ctx{*p, p->Take(), {}, 2, 0};
  auto f = BuildChurnFeatures(ctx, {{"label_property", "churned"}, {"date_to", "2024-01-10"}, {"top_events", 2}});
  ASSERT_TRUE(f.ok()) << f.status().message();
  // c's only event is after the cut-off: not a person here.
  ASSERT_EQ(f->ids, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(f->names, (std::vector<std::string>{"recency_days", "tenure_days", "events", "active_days", "events_7d", "events_30d",
                                                "mean_gap_days", "n_open", "n_x"}));
  const float* a = &f->x[0];
  EXPECT_FLOAT_EQ(a[0], 8);  // the cut-off is the end of 2024-01-10: 8 days after a's last event
  EXPECT_FLOAT_EQ(a[1], 10);
  EXPECT_FLOAT_EQ(a[2], 4);
  EXPECT_FLOAT_EQ(a[3], 2);
  EXPECT_FLOAT_EQ(a[4], 0);
  EXPECT_FLOAT_EQ(a[5], 4);
  EXPECT_FLOAT_EQ(a[6], 2);
  EXPECT_FLOAT_EQ(a[7], 2);
  EXPECT_EQ(f->label, (std::vector<int>{1, 0}));
  EXPECT_FALSE(BuildChurnFeatures(ctx, {{"date_to", "2024-01-10"}}).ok());
  EXPECT_DOUBLE_EQ(RocAuc({0.9f, 0.8f, 0.3f, 0.1f}, {1, 1, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(RocAuc({0.1f, 0.8f, 0.3f, 0.9f}, {1, 1, 0, 0}), 0.25);  // one pair of four in order
  EXPECT_DOUBLE_EQ(RocAuc({0.5f, 0.5f}, {1, 0}), 0.5);  // a tie counts one half
  EXPECT_TRUE(std::isnan(RocAuc({0.5f}, {1})));
}

}  // namespace
}  // namespace aimass::behavior
