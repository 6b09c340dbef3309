#include "mot/geometry.hpp"

#include <algorithm>
#include <cmath>

namespace aimass::mot {

namespace {

// (b - a) × (p - a): in the picture (y down) positive on the right of a → b.
double Cross(Point a, Point b, Point p) { return (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x); }

int Sign(double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; }

}  // namespace

double IoU(const Box& a, const Box& b) {
  const Box inter{std::max(a.x1, b.x1), std::max(a.y1, b.y1), std::min(a.x2, b.x2), std::min(a.y2, b.y2)};
  const double i = inter.area();
  if (i <= 0) return 0;
  return i / (a.area() + b.area() - i);
}

int SideOf(Point a, Point b, Point p) { return Sign(Cross(a, b, p)); }

std::optional<Direction> Crossing(Point a, Point b, Point from, Point to) {
  const int s0 = SideOf(a, b, from), s1 = SideOf(a, b, to);
  if (s0 == 0 || s1 == 0 || s0 == s1) return std::nullopt;
  // And the line's ends must lie on either side of the step (or on it): the step passes between
  // them, not beyond the segment's end.
  const int e0 = Sign(Cross(from, to, a)), e1 = Sign(Cross(from, to, b));
  if (e0 != 0 && e0 == e1) return std::nullopt;
  return s1 > 0 ? Direction::kIn : Direction::kOut;
}

bool InPolygon(const std::vector<Point>& polygon, Point p) {
  bool inside = false;
  for (size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const Point& u = polygon[i];
    const Point& v = polygon[j];
    if ((u.y > p.y) != (v.y > p.y) && p.x < (v.x - u.x) * (p.y - u.y) / (v.y - u.y) + u.x) inside = !inside;
  }
  return inside;
}

double DistanceToLine(Point a, Point b, Point p) {
  const double dx = b.x - a.x, dy = b.y - a.y, len = std::sqrt(dx * dx + dy * dy);
  if (len == 0) return std::sqrt((p.x - a.x) * (p.x - a.x) + (p.y - a.y) * (p.y - a.y));
  return std::fabs(dx * (p.y - a.y) - dy * (p.x - a.x)) / len;
}

}  // namespace aimass::mot
