// The crowd module's parts without a server: stream definitions and their refusals, the worker's
// report in both directions, and the store applying reports once each and in order.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "crowd/report.hpp"
#include "crowd/store.hpp"
#include "crowd/stream_spec.hpp"
#include "test_db.hpp"

namespace aimass::crowd {
namespace {

using json = nlohmann::json;

TEST(StreamSpec, ParsesWritesAndRefuses) {
  json j = {{"name", "square"},
            {"url", "rtsp://cam.local/stream1"},
            {"fps", 5},
            {"roi", {{0, 0}, {700, 0}, {700, 500}}},
            {"detector", {{"every", 2}, {"scale", 0.75}}},
            {"tracker", {{"max_age", 8}, {"linger", 20}}},
            {"lines", {{{"name", "door"}, {"points", {{10, 20}, {30, 40}}}}}},
            {"zones", {{{"name", "queue"}, {"points", {{0, 0}, {10, 0}, {10, 10}}}, {"max_occupancy", 3}, {"loiter_s", 30}}}}};
  auto s = ParseStreamSpec(j);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->local_file());
  EXPECT_EQ(s->detector.every, 2);
  EXPECT_EQ(s->tracker.max_age, 8);
  EXPECT_EQ(s->linger, 20);
  ASSERT_EQ(s->lines.size(), 1u);
  EXPECT_EQ(s->lines[0].b.y, 40);
  EXPECT_EQ(s->zones[0].max_occupancy, 3);
  auto again = ParseStreamSpec(ToJson(*s));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(ToJson(*again), ToJson(*s));

  auto local = ParseStreamSpec({{"name", "f"}, {"url", "file:///srv/videos/a.avi"}});
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(local->local_file());
  EXPECT_EQ(local->path(), "/srv/videos/a.avi");

  const std::vector<std::pair<json, std::string>> bad = {
      {json::array(), "JSON object"},
      {{{"name", "a"}}, "url"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"dataset", "d"}}, "one of them"},
      {{{"name", "A b"}, {"url", "rtsp://x"}}, "stream name"},
      {{{"name", "a"}, {"url", "videos/a.avi"}}, "absolute path"},
      {{{"name", "a"}, {"url", "/srv/../etc/passwd"}}, ".."},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"colour", 1}}, "unknown field 'colour'"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"lines", {{{"name", "l"}, {"points", {{1, 1}, {1, 1}}}}}}}, "two equal points"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"lines", {{{"name", "l"}, {"points", {{1, 1}}}}}}}, "2 points"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"zones", {{{"name", "z"}, {"points", {{1, 1}, {2, 2}}}}}}}, "3 to 256 points"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"detector", {{"kind", "model"}}}}, "deployment"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"detector", {{"every", 0}}}}, "every"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"fps", -1}}, "fps"},
      {{{"name", "a"}, {"url", "rtsp://x"}, {"lines", {{{"name", "l"}, {"points", {{1, 1}, {2, 2}}}}, {{"name", "l"}, {"points", {{1, 1}, {3, 2}}}}}}},
       "two lines"},
  };
  for (const auto& [body, words] : bad) {
    auto r = ParseStreamSpec(body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << body.dump();
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message() << " / " << words;
  }
}

mot::FlowReport SampleReport() {
  mot::FlowReport r;
  r.buckets[1000][{"line", "door"}] = {2, 1, 0, 0, 0};
  r.buckets[1000][{"zone", "queue"}] = {0, 0, 3, 20, 10};
  r.buckets[1001][{"people", ""}] = {0, 0, 4, 30, 10};
  mot::TrackRecord t;
  t.id = 7;
  t.first_frame = 3;
  t.last_frame = 9;
  t.first_ms = 1000300;
  t.last_ms = 1000900;
  t.path = {{3, 10.25, 20}, {9, 12, 22}};
  t.crossings.push_back({"door", 7, mot::Direction::kOut, 5, 1000500});
  r.tracks.push_back(t);
  r.visits.push_back({"queue", 7, 1000300, 1000800});
  r.alerts.push_back({"loitering", "queue", 7, 8, 1000800, 0, 31.5});
  r.heat = {{5, 3}, {6, 1}};
  r.grid_width = 4;
  r.grid_height = 2;
  return r;
}

TEST(Report, RoundTripsAndRefusesWhatAWorkerNeverSends) {
  WorkerState w;
  w.run = 2;
  w.from_frame = 0;
  w.to_frame = 10;
  w.width = 32;
  w.height = 16;
  w.video_fps = 10;
  json body = EncodeReport(w, SampleReport(), {{"people", 1}});
  body["next_track"] = 8;
  auto r = ParseReport(body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->run, 2);
  EXPECT_EQ(r->to_frame, 10);
  ASSERT_EQ(r->tallies.size(), 3u);
  EXPECT_EQ(r->tallies[0].key.kind, "line");
  EXPECT_EQ(r->tallies[0].tally.in, 2u);
  ASSERT_EQ(r->tracks.size(), 1u);
  EXPECT_EQ(r->tracks[0].id, 7);
  EXPECT_NE(r->tracks[0].body.find("\"direction\":\"out\""), std::string::npos);
  ASSERT_EQ(r->alerts.size(), 1u);
  EXPECT_DOUBLE_EQ(r->alerts[0].dwell_s, 31.5);
  EXPECT_EQ(r->heat.size(), 2u);

  auto broken = [&](auto change) {
    json b = body;
    change(b);
    return ParseReport(b).ok();
  };
  EXPECT_FALSE(broken([](json& b) { b["state"] = "dancing"; }));
  EXPECT_FALSE(broken([](json& b) { b["to_frame"] = -1; }));
  EXPECT_FALSE(broken([](json& b) { b["from_frame"] = 11; }));
  EXPECT_FALSE(broken([](json& b) { b["tallies"][0][3] = -5; }));
  EXPECT_FALSE(broken([](json& b) { b["tallies"][0][1] = "door"; }));
  EXPECT_FALSE(broken([](json& b) { b["heat"]["cells"][0][0] = 8; }));  // outside the 4 × 2 grid
  EXPECT_FALSE(broken([](json& b) { b["heat"]["width"] = 100000; }));
  EXPECT_FALSE(broken([](json& b) { b["alerts"][0]["kind"] = "fire"; }));
  EXPECT_FALSE(broken([](json& b) { b["tracks"][0]["crossings"][0]["direction"] = "up"; }));
  EXPECT_FALSE(broken([](json& b) { b["tracks"][0]["path"][0] = {1, "x", 2}; }));
  EXPECT_FALSE(broken([](json& b) { b["run"] = "2"; }));
}

TEST(CrowdStore, AppliesEachReportOnceAndInOrder) {
  auto db = testing::OpenTestDb();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->Migrate(CrowdStore::Migrations()).ok());
  CrowdStore store(*db);
  StreamRow s;
  s.name = "square";
  s.owner = "ann";
  s.spec = "{}";
  s.created_ms = s.updated_ms = 1;
  ASSERT_TRUE(store.Create(s).ok());
  EXPECT_EQ(store.Create(s).code(), Code::kConflict);
  ASSERT_TRUE(store.SetRun("square", 1, 42, "starting").ok());

  WorkerState w;
  w.run = 1;
  w.to_frame = 10;
  w.width = 32;
  w.height = 16;
  auto report = ParseReport(EncodeReport(w, SampleReport(), json::object()));
  ASSERT_TRUE(report.ok());
  auto after = store.Apply("square", *report, 5);
  ASSERT_TRUE(after.ok()) << after.status().message();
  EXPECT_EQ(after->frames, 10);
  EXPECT_EQ(after->state, "running");
  EXPECT_EQ(after->grid_width, 4);
  // The same report again (a retry after a lost answer) is refused and changes nothing.
  auto twice = store.Apply("square", *report, 6);
  EXPECT_EQ(twice.status().code(), Code::kConflict);
  // A report of an older run is refused.
  Report old = *report;
  old.run = 0;
  old.from_frame = 10;
  old.to_frame = 20;
  EXPECT_EQ(store.Apply("square", old, 7).status().code(), Code::kConflict);
  // The next report adds to the same second.
  Report next = *report;
  next.from_frame = 10;
  next.to_frame = 20;
  next.tracks.clear();
  next.alerts.clear();
  next.visits.clear();
  ASSERT_TRUE(store.Apply("square", next, 8).ok());
  auto tallies = store.Tallies("square", 0, 2000);
  ASSERT_TRUE(tallies.ok());
  ASSERT_EQ(tallies->size(), 3u);
  for (const auto& t : *tallies) {
    if (t.key.kind == "line") {
      EXPECT_EQ(t.tally.in, 4u);
      EXPECT_EQ(t.tally.out, 2u);
    }
    if (t.key.kind == "zone") {
      EXPECT_EQ(t.tally.occupancy_max, 3);
      EXPECT_EQ(t.tally.occupancy_sum, 40u);
      EXPECT_EQ(t.tally.frames, 20u);
    }
  }
  auto heat = store.Heat("square", 8);
  ASSERT_TRUE(heat.ok());
  EXPECT_EQ((*heat)[5], 6);
  EXPECT_EQ((*heat)[6], 2);
  auto tracks = store.Tracks("square", 0, 1 << 30, 10);
  ASSERT_TRUE(tracks.ok());
  ASSERT_EQ(tracks->size(), 1u);
  EXPECT_EQ((*tracks)[0].last_frame, 9);
  auto alerts = store.Alerts("square", 0, 1 << 30, 10);
  ASSERT_TRUE(alerts.ok());
  EXPECT_EQ(alerts->size(), 1u);
  auto visits = store.Visits("square", 0, 1 << 30, 7);
  ASSERT_TRUE(visits.ok());
  ASSERT_EQ(visits->size(), 1u);
  EXPECT_DOUBLE_EQ((*visits)[0].dwell_s(), 0.5);
  ASSERT_TRUE(store.Delete("square").ok());
  EXPECT_EQ(store.Get("square").status().code(), Code::kNotFound);
  EXPECT_TRUE(store.Tallies("square", 0, 2000)->empty());
}

}  // namespace
}  // namespace aimass::crowd
