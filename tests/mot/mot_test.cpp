// The tracking parts of crowd-flow analysis on synthetic figures with known paths: the
// assignment against brute force, line and zone geometry (with the picture's y-down
// orientation), the Kalman box's prediction, SORT's ids through gaps, and line counts that a
// flickering box cannot double.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <set>

#include "mot/assignment.hpp"
#include "mot/geometry.hpp"
#include "mot/kalman_box.hpp"
#include "mot/line_counter.hpp"
#include "mot/people_detector.hpp"
#include "mot/sort_tracker.hpp"

namespace aimass::mot {
namespace {

double Cost(const std::vector<double>& c, size_t cols, const std::vector<int>& pair) {
  double s = 0;
  for (size_t r = 0; r < pair.size(); ++r) {
    if (pair[r] >= 0) s += c[r * cols + static_cast<size_t>(pair[r])];
  }
  return s;
}

// The least total cost over every pairing of min(rows, cols) pairs.
double BruteForce(const std::vector<double>& c, size_t rows, size_t cols) {
  const bool wide = rows <= cols;
  const size_t small = wide ? rows : cols, big = wide ? cols : rows;
  std::vector<size_t> perm(big);
  std::iota(perm.begin(), perm.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do {
    double s = 0;
    for (size_t i = 0; i < small; ++i) s += wide ? c[i * cols + perm[i]] : c[perm[i] * cols + i];
    best = std::min(best, s);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(Assignment, MatchesBruteForce) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t rows = 1 + rng() % 6, cols = 1 + rng() % 6;
    std::vector<double> c(rows * cols);
    for (auto& x : c) x = trial % 3 == 0 ? std::round(u(rng) * 3) : u(rng);  // ties too
    const auto pair = Assign(c, rows, cols);
    ASSERT_EQ(pair.size(), rows);
    std::set<int> cols_used;
    size_t paired = 0;
    for (int p : pair) {
      if (p < 0) continue;
      ++paired;
      EXPECT_TRUE(cols_used.insert(p).second) << "a column paired twice";
    }
    EXPECT_EQ(paired, std::min(rows, cols));
    EXPECT_NEAR(Cost(c, cols, pair), BruteForce(c, rows, cols), 1e-9) << rows << "x" << cols;
  }
  EXPECT_TRUE(Assign({}, 0, 3).empty());
  EXPECT_EQ(Assign({}, 2, 0), (std::vector<int>{-1, -1}));
}

TEST(Geometry, SidesCrossingsAndZones) {
  // A line pointing right across the picture: above it (smaller y) is its left.
  const Point a{100, 300}, b{500, 300};
  EXPECT_EQ(SideOf(a, b, {200, 100}), -1);
  EXPECT_EQ(SideOf(a, b, {200, 400}), 1);
  EXPECT_EQ(SideOf(a, b, {200, 300}), 0);
  EXPECT_EQ(Crossing(a, b, {200, 250}, {210, 350}), Direction::kIn);   // downwards: left to right
  EXPECT_EQ(Crossing(a, b, {200, 350}, {210, 250}), Direction::kOut);
  EXPECT_EQ(Crossing(a, b, {600, 250}, {600, 350}), std::nullopt);     // past the segment's end
  EXPECT_EQ(Crossing(a, b, {200, 250}, {200, 300}), std::nullopt);     // onto the line: not yet
  EXPECT_EQ(Crossing(a, b, {200, 250}, {300, 280}), std::nullopt);     // stays on one side
  // Reversing the line's direction swaps in and out.
  EXPECT_EQ(Crossing(b, a, {200, 250}, {210, 350}), Direction::kOut);
  EXPECT_DOUBLE_EQ(IoU({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0 / 150.0);
  EXPECT_DOUBLE_EQ(IoU({0, 0, 10, 10}, {20, 20, 30, 30}), 0);
  EXPECT_EQ((Box{10, 20, 30, 80}.BottomCentre().x), 20);
  EXPECT_EQ((Box{10, 20, 30, 80}.BottomCentre().y), 80);
  const std::vector<Point> zone{{0, 0}, {100, 0}, {100, 50}, {50, 100}, {0, 50}};
  EXPECT_TRUE(InPolygon(zone, {50, 50}));
  EXPECT_TRUE(InPolygon(zone, {50, 95}));
  EXPECT_FALSE(InPolygon(zone, {90, 90}));
  EXPECT_FALSE(InPolygon(zone, {-1, 10}));
}

Box At(double cx, double bottom, double w = 40, double h = 100) { return {cx - w / 2, bottom - h, cx + w / 2, bottom}; }

TEST(KalmanBox, PredictsAConstantVelocity) {
  KalmanBox k(At(100, 200));
  for (int f = 1; f <= 20; ++f) {
    k.Predict();
    k.Update(At(100 + 5 * f, 200 + 2 * f));
  }
  const Box next = k.Predict();
  const Point p = next.BottomCentre(), want = At(205, 242).BottomCentre();
  EXPECT_NEAR(p.x, want.x, 1.0);
  EXPECT_NEAR(p.y, want.y, 1.5);
  EXPECT_NEAR(next.width(), 40, 1.0);
}

TEST(SortTracker, KeepsIdsThroughGapsAndCrossingPaths) {
  SortTracker t({.max_age = 5, .min_hits = 3, .iou_threshold = 0.3});
  std::set<uint64_t> ids_a, ids_b;
  for (int f = 0; f < 60; ++f) {
    std::vector<Detection> d;
    // A walks right, B walks down; B's detector misses frames 20-22.
    d.push_back({At(100 + 4 * f, 300)});
    if (f < 20 || f > 22) d.push_back({At(500, 100 + 6 * f)});
    // A one-frame false detection: never reported.
    if (f == 30) d.push_back({At(700, 500)});
    for (const Track& tr : t.Update(d)) {
      const Point p = tr.box.BottomCentre();
      if (std::abs(p.y - 300) < 8 && std::abs(p.x - (100 + 4 * f)) < 8) ids_a.insert(tr.id);
      else if (std::abs(p.x - 500) < 8) ids_b.insert(tr.id);
      else ADD_FAILURE() << "frame " << f << ": a track at " << p.x << "," << p.y;
    }
  }
  EXPECT_EQ(ids_a.size(), 1u);
  EXPECT_EQ(ids_b.size(), 1u);
  EXPECT_NE(*ids_a.begin(), *ids_b.begin());
}

TEST(LineCounter, CountsEachPassageOnceWhateverTheFlicker) {
  LineCounter c({{"door", {0, 300}, {400, 300}}, {"side", {200, 0}, {200, 600}}}, /*linger=*/10);
  uint64_t frame = 0;
  auto step = [&](std::vector<std::pair<uint64_t, Box>> tracks) { return c.Update(++frame, tracks); };
  // Track 1 walks down across the door (in), then wobbles back over it and down again.
  for (double y : {250.0, 280.0, 300.0, 320.0, 290.0, 310.0, 340.0}) step({{1, At(100, y)}});
  // Track 2 walks up across the door (out) but beyond its end for part of the way: x = 380 is on it.
  for (double y : {340.0, 320.0, 290.0, 260.0}) step({{2, At(380, y)}});
  // Track 3 passes beyond the door's end: not counted.
  for (double y : {250.0, 350.0}) step({{3, At(450, y)}});
  // Track 4 is lost for 5 frames (within the linger) and found across: counted.
  step({{4, At(50, 280)}});
  for (int i = 0; i < 5; ++i) step({});
  step({{4, At(50, 330)}});
  // Track 5 is lost for longer than the linger: not counted (its past is forgotten).
  step({{5, At(60, 280)}});
  for (int i = 0; i < 12; ++i) step({});
  step({{5, At(60, 330)}});
  EXPECT_EQ(c.in(0), 2u);   // tracks 1 and 4
  EXPECT_EQ(c.out(0), 1u);  // track 2
  EXPECT_EQ(c.in(1) + c.out(1), 0u);
  // The side line: track 6 walks right across it (pointing down, so right-going is from its
  // right to its left: out).
  step({{6, At(150, 500)}});
  const auto events = step({{6, At(250, 500)}});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].line, "side");
  EXPECT_EQ(events[0].direction, Direction::kOut);
  // Track 7 walks down across the door, on until half its height past it, and back up across:
  // two passages, both counted; then it flickers over the line again without going far: no more.
  for (double y : {260.0, 320.0, 360.0, 300.0, 260.0, 310.0, 290.0, 305.0}) step({{7, At(120, y)}});
  EXPECT_EQ(c.in(0), 3u);
  EXPECT_EQ(c.out(0), 2u);
}

}  // namespace
}  // namespace aimass::mot

namespace aimass::mot {
namespace {

// Debian's opencv-doc (scripts/install-deps) ships it: pedestrians crossing a square, 768×576,
// 10 frames a second.
constexpr const char* kVtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

TEST(PeopleDetector, FindsAndFollowsThePedestriansOfVtest) {
  auto video = OpenVideo(kVtest);
  ASSERT_TRUE(video.ok()) << video.status().message() << " (scripts/install-deps installs opencv-doc)";
  EXPECT_DOUBLE_EQ((*video)->fps(), 10.0);
  auto hog = MakeHogDetector();
  SortTracker tracker;
  Frame f;
  int frames = 0, with_people = 0;
  std::set<uint64_t> ids;
  size_t boxes = 0;
  const auto start = std::chrono::steady_clock::now();
  while (frames < 60 && (*video)->Read(&f)) {
    ASSERT_EQ(f.width, 768);
    ASSERT_EQ(f.height, 576);
    const auto found = hog->Detect(f);
    boxes += found.size();
    with_people += !found.empty();
    for (const auto& d : found) {
      EXPECT_GE(d.box.x2, 0);
      EXPECT_LE(d.box.x1, 768);
      EXPECT_GT(d.box.height(), d.box.width());  // people stand upright
    }
    for (const auto& t : tracker.Update(found)) ids.insert(t.id);
    ++frames;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(frames, 60);
  // The square is never empty: most frames have someone, and the tracks are far fewer than the
  // boxes (each person is followed, not counted anew each frame).
  EXPECT_GE(with_people, 50);
  EXPECT_GT(ids.size(), 2u);
  EXPECT_LT(ids.size() * 4, boxes);
  std::printf("vtest.avi, 60 frames: %.1f boxes a frame, %zu tracks, %.1f frames/s (HOG on every full frame)\n",
              static_cast<double>(boxes) / frames, ids.size(), frames / seconds);
}

TEST(PeopleDetector, RefusesWhatIsNotAVideo) {
  EXPECT_FALSE(OpenVideo("/nonexistent/video.avi").ok());
  const auto d = Suppress({{{0, 0, 10, 20}, 0.5}, {{1, 1, 11, 21}, 0.9}, {{50, 50, 60, 70}, 0.4}}, 0.45);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_DOUBLE_EQ(d[0].score, 0.9);
  EXPECT_DOUBLE_EQ(d[1].score, 0.4);
}

}  // namespace
}  // namespace aimass::mot

#include "mot/flow_analyzer.hpp"
#include "mot/frame_image.hpp"
#include "mot/zone_monitor.hpp"

namespace aimass::mot {
namespace {

Box Figure(double x, double y) { return {x - 20, y - 80, x + 20, y}; }  // feet at (x, y)

// A detector that sees what a script says, frame by frame.
class ScriptedDetector final : public PeopleDetector {
 public:
  explicit ScriptedDetector(std::function<std::vector<Detection>(uint64_t)> f) : f_(std::move(f)) {}
  std::vector<Detection> Detect(const Frame& frame) override {
    ++calls;
    return f_(frame.index);
  }
  int calls = 0;

 private:
  std::function<std::vector<Detection>(uint64_t)> f_;
};

Frame Blank(uint64_t index) {
  Frame f;
  f.width = 640;
  f.height = 480;
  f.bgr.assign(640 * 480 * 3, 40);
  f.index = index;
  return f;
}

TEST(ZoneMonitor, OccupancyDwellLoiteringAndOvercrowdingWithFlickerAtTheEdge) {
  ZoneMonitor z({{"bench", {{100, 100}, {300, 100}, {300, 300}, {100, 300}}, /*max_occupancy=*/1, /*loiter_s=*/2.0}}, /*leave_ms=*/500);
  std::vector<ZoneAlert> alerts;
  // Frames 100 ms apart. Track 1 stands inside from t=0 to t=3 s, flickering out for 200 ms at
  // 1 s (one visit, not two); track 2 joins from 1.5 s to 2 s (overcrowding once).
  for (int f = 0; f <= 30; ++f) {
    std::vector<std::pair<uint64_t, Point>> tracks;
    const bool flicker = f == 10 || f == 11;
    tracks.push_back({1, flicker ? Point{310, 200} : Point{200, 200}});
    if (f >= 15 && f <= 20) tracks.push_back({2, {150, 150}});
    auto a = z.Update(static_cast<uint64_t>(f), f * 100, tracks);
    alerts.insert(alerts.end(), a.begin(), a.end());
    if (f == 16) EXPECT_EQ(z.occupancy()[0], 2);
    if (f == 10) EXPECT_EQ(z.occupancy()[0], 0);
  }
  for (int f = 31; f <= 40; ++f) z.Update(static_cast<uint64_t>(f), f * 100, {});
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].kind, "overcrowding");
  EXPECT_EQ(alerts[0].occupancy, 2);
  EXPECT_EQ(alerts[0].frame, 15u);
  EXPECT_EQ(alerts[1].kind, "loitering");
  EXPECT_EQ(alerts[1].track, 1u);
  EXPECT_EQ(alerts[1].frame, 20u);
  auto visits = z.TakeVisits();
  std::sort(visits.begin(), visits.end(), [](const ZoneVisit& a, const ZoneVisit& b) { return a.track < b.track; });
  ASSERT_EQ(visits.size(), 2u);
  EXPECT_EQ(visits[0].track, 1u);
  EXPECT_DOUBLE_EQ(visits[0].dwell_s(), 3.0);
  EXPECT_EQ(visits[1].track, 2u);
  EXPECT_DOUBLE_EQ(visits[1].dwell_s(), 0.5);
}

TEST(FlowAnalyzer, DetectsOnEveryThirdFrameAndCountsAsIfOnEvery) {
  // Two figures on known paths: A walks right across the vertical line x=320 (pointing up, so
  // rightwards is from its left to its right: in), B walks left across it (out) and stands in a
  // zone on the way.
  auto paths = [](uint64_t f) {
    std::vector<Detection> d;
    d.push_back({Figure(100 + 8.0 * static_cast<double>(f), 300), 1});
    d.push_back({Figure(560 - 8.0 * static_cast<double>(f), 420), 1});
    return d;
  };
  for (int every : {1, 3}) {
    ScriptedDetector det(paths);
    FlowOptions o;
    o.detect_every = every;
    FlowAnalyzer a(det, o, {{"door", {320, 460}, {320, 200}}}, {{"left", {{0, 380}, {200, 380}, {200, 460}, {0, 460}}}});
    for (uint64_t f = 0; f < 60; ++f) a.Process(Blank(f), static_cast<int64_t>(f) * 100);
    a.Finish();
    EXPECT_EQ(det.calls, every == 1 ? 60 : 20) << every;
    EXPECT_EQ(a.lines().in(0), 1u) << every;
    EXPECT_EQ(a.lines().out(0), 1u) << every;
    FlowReport r = a.Take();
    uint64_t in = 0, out = 0, zone_frames = 0;
    int people_max = 0;
    for (const auto& [second, counters] : r.buckets) {
      for (const auto& [key, t] : counters) {
        if (key.kind == "line") {
          in += t.in;
          out += t.out;
        }
        if (key.kind == "zone") zone_frames += t.occupancy_sum;
        if (key.kind == "people") people_max = std::max(people_max, t.occupancy_max);
      }
    }
    EXPECT_EQ(in, 1u);
    EXPECT_EQ(out, 1u);
    EXPECT_EQ(people_max, 2);
    // B is in the zone while its feet are left of x=200: x = 560 - 8f < 200 from f = 46 on,
    // reported from its confirmation (frame 2 or 6) whichever is later: 14 frames.
    EXPECT_NEAR(static_cast<double>(zone_frames), 14, 1) << every;
    ASSERT_EQ(r.tracks.size(), 2u);
    for (const auto& t : r.tracks) EXPECT_EQ(t.crossings.size(), 1u);
    ASSERT_EQ(r.visits.size(), 1u);
    uint64_t presence = 0;
    for (const auto& [cell, n] : r.heat) presence += n;
    EXPECT_GE(presence, 2u * 54u);  // both figures, nearly every frame
    EXPECT_EQ(r.grid_width, 80);
  }
}

TEST(FlowAnalyzer, ReconfiguredLinesCountFromThen) {
  ScriptedDetector det([](uint64_t f) { return std::vector<Detection>{{Figure(100 + 10.0 * static_cast<double>(f), 300), 1}}; });
  FlowAnalyzer a(det, {}, {{"first", {200, 0}, {200, 480}}}, {});
  for (uint64_t f = 0; f < 20; ++f) a.Process(Blank(f), static_cast<int64_t>(f) * 100);
  EXPECT_EQ(a.lines().out(0), 1u);  // pointing down: rightwards is out
  a.Reconfigure({{"second", {400, 480}, {400, 0}}}, {});
  for (uint64_t f = 20; f < 40; ++f) a.Process(Blank(f), static_cast<int64_t>(f) * 100);
  EXPECT_EQ(a.lines().lines()[0].name, "second");
  EXPECT_EQ(a.lines().in(0), 1u);
}

TEST(FrameImage, EncodesFramesAndHeatmaps) {
  Frame f = Blank(0);
  const std::string jpeg = EncodeJpeg(f);
  ASSERT_GT(jpeg.size(), 100u);
  EXPECT_EQ(static_cast<unsigned char>(jpeg[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(jpeg[1]), 0xD8);
  std::vector<double> grid(80 * 60, 0);
  grid[30 * 80 + 40] = 10;
  auto png = HeatmapPng(grid, 80, 60, 640, 480, jpeg);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(png->substr(1, 3), "PNG");
  EXPECT_FALSE(HeatmapPng(grid, 81, 60, 640, 480, "").ok());
}

}  // namespace
}  // namespace aimass::mot
