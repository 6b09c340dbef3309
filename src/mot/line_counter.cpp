#include "mot/line_counter.hpp"

namespace aimass::mot {

std::vector<LineEvent> LineCounter::Update(uint64_t frame, const std::vector<std::pair<uint64_t, Box>>& tracks) {
  std::vector<LineEvent> events;
  for (const auto& [id, box] : tracks) {
    State& s = tracks_[id];
    if (s.last_off.empty()) {
      s.last_off.resize(lines_.size());
      s.has_last.assign(lines_.size(), 0);
      s.counted.assign(lines_.size(), 0);
    }
    s.seen = frame;
    const Point p = box.BottomCentre();
    for (size_t l = 0; l < lines_.size(); ++l) {
      const CountingLine& line = lines_[l];
      const int side = SideOf(line.a, line.b, p);
      if (side == 0) continue;  // on the line: neither side yet
      if (s.counted[l] && side == s.counted[l] && DistanceToLine(line.a, line.b, p) >= rearm_ * box.height()) {
        s.counted[l] = 0;  // far enough on the side it went to: its next passage counts
      }
      if (s.has_last[l] && !s.counted[l]) {
        if (auto dir = Crossing(line.a, line.b, s.last_off[l], p)) {
          s.counted[l] = static_cast<char>(side);
          (*dir == Direction::kIn ? in_ : out_)[l] += 1;
          events.push_back({line.name, id, *dir, frame});
        }
      }
      s.last_off[l] = p;
      s.has_last[l] = 1;
    }
  }
  // Tracks unseen for longer than the linger are forgotten.
  for (auto it = tracks_.begin(); it != tracks_.end();) {
    if (frame - it->second.seen > static_cast<uint64_t>(linger_)) it = tracks_.erase(it);
    else ++it;
  }
  return events;
}

}  // namespace aimass::mot
