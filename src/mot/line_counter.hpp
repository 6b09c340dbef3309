// Counting lines: a track is counted when the point it stands on (its box's bottom centre)
// crosses a line, in the direction it crossed ("in": from the left of the line's direction to
// its right), once per passage: after it is counted, the line counts it again only once it has
// gone at least `rearm` of its box's height away from the line on the side it crossed to, so a
// box flickering on the line (the usual cause of double counts) cannot count a person twice, and
// a person who walks away and comes back later is counted again. A track's last position off the
// line is kept for `linger` frames after it was last seen, so that a person lost for a moment and
// found on the other side is still counted (supervision's max_linger).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "mot/geometry.hpp"

namespace aimass::mot {

struct CountingLine {
  std::string name;
  Point a, b;
};

struct LineEvent {
  std::string line;
  uint64_t track = 0;
  Direction direction = Direction::kIn;
  uint64_t frame = 0;
  int64_t time_ms = 0;  // set by the caller that knows the frame's time
};

class LineCounter {
 public:
  explicit LineCounter(std::vector<CountingLine> lines, int linger = 30, double rearm = 0.25)
      : lines_(std::move(lines)), linger_(linger), rearm_(rearm) {}
  // The tracks seen in frame `frame` (their ids and boxes); returns the crossings they made.
  std::vector<LineEvent> Update(uint64_t frame, const std::vector<std::pair<uint64_t, Box>>& tracks);
  uint64_t in(size_t line) const { return in_[line]; }
  uint64_t out(size_t line) const { return out_[line]; }
  const std::vector<CountingLine>& lines() const { return lines_; }

 private:
  struct State {
    std::vector<Point> last_off;  // per line: the last point off the line
    std::vector<char> has_last, counted;  // counted: since its last passage, not yet gone far enough
    uint64_t seen = 0;  // the last frame it was seen in
  };
  std::vector<CountingLine> lines_;
  int linger_;
  double rearm_;
  std::unordered_map<uint64_t, State> tracks_;
  std::vector<uint64_t> in_ = std::vector<uint64_t>(lines_.size(), 0), out_ = std::vector<uint64_t>(lines_.size(), 0);
};

}  // namespace aimass::mot
