#include "mot/zone_monitor.hpp"

namespace aimass::mot {

ZoneMonitor::ZoneMonitor(std::vector<Zone> zones, int64_t leave_ms)
    : zones_(std::move(zones)), leave_ms_(leave_ms), open_(zones_.size()), occupancy_(zones_.size(), 0), crowded_(zones_.size(), 0) {}

std::vector<ZoneAlert> ZoneMonitor::Update(uint64_t frame, int64_t time_ms, const std::vector<std::pair<uint64_t, Point>>& tracks) {
  std::vector<ZoneAlert> alerts;
  for (size_t z = 0; z < zones_.size(); ++z) {
    const Zone& zone = zones_[z];
    auto& open = open_[z];
    int inside = 0;
    for (const auto& [id, p] : tracks) {
      if (!InPolygon(zone.polygon, p)) continue;
      ++inside;
      auto [it, fresh] = open.try_emplace(id);
      if (fresh) it->second.enter_ms = time_ms;
      it->second.last_in_ms = time_ms;
      const double dwell = static_cast<double>(time_ms - it->second.enter_ms) / 1000.0;
      if (zone.loiter_s > 0 && !it->second.loitered && dwell >= zone.loiter_s) {
        it->second.loitered = true;
        alerts.push_back({"loitering", zone.name, id, frame, time_ms, 0, dwell});
      }
    }
    // Visits whose person has been outside (or unseen) long enough end at their last time inside.
    for (auto it = open.begin(); it != open.end();) {
      if (time_ms - it->second.last_in_ms >= leave_ms_) {
        ended_.push_back({zone.name, it->first, it->second.enter_ms, it->second.last_in_ms});
        it = open.erase(it);
      } else {
        ++it;
      }
    }
    occupancy_[z] = inside;
    if (zone.max_occupancy > 0) {
      if (inside > zone.max_occupancy && !crowded_[z]) {
        crowded_[z] = 1;
        alerts.push_back({"overcrowding", zone.name, 0, frame, time_ms, inside, 0});
      } else if (inside <= zone.max_occupancy) {
        crowded_[z] = 0;
      }
    }
  }
  return alerts;
}

void ZoneMonitor::Finish() {
  for (size_t z = 0; z < zones_.size(); ++z) {
    for (const auto& [id, v] : open_[z]) ended_.push_back({zones_[z].name, id, v.enter_ms, v.last_in_ms});
    open_[z].clear();
    occupancy_[z] = 0;
  }
}

}  // namespace aimass::mot
