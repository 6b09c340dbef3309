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

TEST(LineCounter, CountsEachTrackOncePerLineWhateverTheFlicker) {
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
