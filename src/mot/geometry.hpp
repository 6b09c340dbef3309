// Plane geometry of people in video frames, in the video's pixel coordinates (x right, y down):
// boxes and their overlap, the bottom-centre point a person stands on, which side of a directed
// counting line a point is on, when a step of a track crosses the line and in which direction,
// and whether a point is inside a zone (a polygon).
#pragma once

#include <optional>
#include <vector>

namespace aimass::mot {

struct Point {
  double x = 0, y = 0;
};

struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // top-left, bottom-right
  double width() const { return x2 - x1; }
  double height() const { return y2 - y1; }
  double area() const { return width() > 0 && height() > 0 ? width() * height() : 0; }
  // Where a person stands: the middle of the box's bottom edge (DeepStream's anchor).
  Point BottomCentre() const { return {(x1 + x2) / 2, y2}; }
};

// Intersection over union, 0 for boxes that do not overlap.
double IoU(const Box& a, const Box& b);

// The side of the directed line a → b that `p` is on, as the picture shows it (y down): +1 on
// the right of the direction, -1 on the left, 0 on the line.
int SideOf(Point a, Point b, Point p);

// The distance of `p` from the (infinite) line through a and b.
double DistanceToLine(Point a, Point b, Point p);

// "in" is a crossing from the left of the line's direction to its right; "out" the other way.
enum class Direction { kIn, kOut };

// Whether the step from → to goes from one side of the segment a-b to the other through it (not
// through its extension beyond an end), and which way. Points on the line are on neither side:
// a counter steps from a track's last point off the line (line_counter.hpp).
std::optional<Direction> Crossing(Point a, Point b, Point from, Point to);

// Whether `p` is inside the polygon (even-odd rule; points on an edge may go either way).
bool InPolygon(const std::vector<Point>& polygon, Point p);

}  // namespace aimass::mot
