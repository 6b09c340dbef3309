// Crowd flow in one video: the frames go through detection (on every n-th frame), tracking
// (SORT, predicted in between), counting lines, zones and a presence grid, and come out as what
// each frame shows and as tallies per second that can be merged: crossings per line and
// direction, occupancy per zone, the people in view. A stream's worker hands the tallies, the
// tracks that ended, the alerts and the grid's new presence to the platform (crowd module);
// bench/crowd.sh runs the same code.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mot/line_counter.hpp"
#include "mot/people_detector.hpp"
#include "mot/sort_tracker.hpp"
#include "mot/zone_monitor.hpp"

namespace aimass::mot {

struct FlowOptions {
  int detect_every = 1;     // detection on every n-th frame, tracking alone in between
  SortOptions sort;
  int linger = 30;          // frames a lost track's side of each line is remembered
  double rearm = 0.25;      // box heights a counted track goes past a line before it counts again
  std::vector<Point> roi;   // people standing outside it are ignored; empty: the whole frame
  int heat_cell = 8;        // the presence grid's cell, in pixels
  size_t path_points = 200; // a track's path is thinned evenly to this many points each time it reaches twice as many
  int64_t leave_ms = 500;   // a zone's visit ends after this long outside
};

// One second's counts for one counter; tallies of the same second and counter add up.
struct Tally {
  uint64_t in = 0, out = 0;         // lines
  int occupancy_max = 0;            // zones and "people"
  uint64_t occupancy_sum = 0, frames = 0;
  void Merge(const Tally& o);
};

// kind: line | zone | people (everyone in view; its name is empty).
struct CounterKey {
  std::string kind, name;
  bool operator<(const CounterKey& o) const { return kind != o.kind ? kind < o.kind : name < o.name; }
};

// Seconds (since the epoch, of the frames' times) → counter → tally.
using FlowBuckets = std::map<int64_t, std::map<CounterKey, Tally>>;

struct TrackRecord {
  uint64_t id = 0;
  uint64_t first_frame = 0, last_frame = 0;
  int64_t first_ms = 0, last_ms = 0;
  std::vector<std::array<double, 3>> path;  // {frame, x, y} of the point it stands on
  std::vector<LineEvent> crossings;
};

// What Take hands over.
struct FlowReport {
  FlowBuckets buckets;
  std::vector<TrackRecord> tracks;  // ended
  std::vector<LineEvent> crossings;
  std::vector<ZoneVisit> visits;    // ended
  std::vector<ZoneAlert> alerts;
  std::vector<std::pair<uint32_t, uint32_t>> heat;  // presence grid cell (row-major) → frames added
  int grid_width = 0, grid_height = 0;
};

// What one frame shows.
struct FrameView {
  uint64_t frame = 0;
  int64_t time_ms = 0;
  bool detected = false;  // detection ran on it
  std::vector<Detection> detections;
  std::vector<Track> tracks;
  std::vector<LineEvent> crossings;
  std::vector<ZoneAlert> alerts;
  std::vector<int> occupancy;  // per zone
};

class FlowAnalyzer {
 public:
  FlowAnalyzer(PeopleDetector& detector, FlowOptions options, std::vector<CountingLine> lines, std::vector<Zone> zones);
  const FrameView& Process(const Frame& frame, int64_t time_ms);
  // The video ended: every track ends and every zone visit closes.
  void Finish();
  // New counting lines and zones (the user changed them): counts start again for them, open
  // visits end, tracks go on.
  void Reconfigure(std::vector<CountingLine> lines, std::vector<Zone> zones);
  FlowReport Take();
  const LineCounter& lines() const { return lines_; }
  const ZoneMonitor& zones() const { return zones_; }
  uint64_t frames() const { return frames_; }
  uint64_t next_track() const { return tracker_.next_id(); }

 private:
  void EndTracks(bool all);
  TrackRecord& RecordOf(uint64_t id);

  PeopleDetector& detector_;
  FlowOptions o_;
  SortTracker tracker_;
  LineCounter lines_;
  ZoneMonitor zones_;
  FrameView view_;
  uint64_t frames_ = 0;
  std::map<uint64_t, TrackRecord> records_;  // tracks shown so far and not ended
  FlowReport pending_;
  std::vector<uint32_t> heat_;  // presence added since the last Take
};

}  // namespace aimass::mot
