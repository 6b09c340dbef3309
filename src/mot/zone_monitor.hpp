// Zones: polygons in the frame where people are counted while they stand in them (occupancy),
// how long each stays (a visit, its dwell time), and the alerts a zone raises: overcrowding when
// more people are in it than it allows, loitering when one person stays longer than it allows.
// A person standing on a zone's edge flickers in and out; a visit ends only after the person has
// been outside for `leave_ms`, so that the flicker neither splits the visit nor counts twice.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mot/geometry.hpp"

namespace aimass::mot {

struct Zone {
  std::string name;
  std::vector<Point> polygon;
  int max_occupancy = 0;  // more people than this raise overcrowding; 0: no limit
  double loiter_s = 0;    // a stay longer than this raises loitering; 0: no limit
};

struct ZoneAlert {
  std::string kind;  // overcrowding | loitering
  std::string zone;
  uint64_t track = 0;  // loitering: who
  uint64_t frame = 0;
  int64_t time_ms = 0;
  int occupancy = 0;    // overcrowding: how many
  double dwell_s = 0;   // loitering: how long so far
};

struct ZoneVisit {
  std::string zone;
  uint64_t track = 0;
  int64_t enter_ms = 0, exit_ms = 0;  // first and last time seen inside
  double dwell_s() const { return static_cast<double>(exit_ms - enter_ms) / 1000.0; }
};

class ZoneMonitor {
 public:
  explicit ZoneMonitor(std::vector<Zone> zones, int64_t leave_ms = 500);
  // The tracks shown at `time_ms` (their ids and the points they stand on); returns the alerts
  // this frame raised. A track missing from the list is treated as outside every zone.
  std::vector<ZoneAlert> Update(uint64_t frame, int64_t time_ms, const std::vector<std::pair<uint64_t, Point>>& tracks);
  // Ends every open visit (the stream stopped).
  void Finish();
  // The people in each zone at the last Update, in the zones' order.
  const std::vector<int>& occupancy() const { return occupancy_; }
  const std::vector<Zone>& zones() const { return zones_; }
  // Visits that ended since the last call.
  std::vector<ZoneVisit> TakeVisits() { return std::exchange(ended_, {}); }

 private:
  struct Open {
    int64_t enter_ms = 0, last_in_ms = 0;
    bool loitered = false;
  };
  std::vector<Zone> zones_;
  int64_t leave_ms_;
  std::vector<std::map<uint64_t, Open>> open_;  // per zone: track → its visit
  std::vector<int> occupancy_;
  std::vector<char> crowded_;  // an overcrowding alert was raised and occupancy has not fallen back
  std::vector<ZoneVisit> ended_;
};

}  // namespace aimass::mot
