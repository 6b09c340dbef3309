#include "mot/assignment.hpp"

#include <limits>

namespace aimass::mot {

namespace {

// Rows <= cols: the classical O(rows² · cols) potentials method, 1-based with a virtual column 0.
std::vector<int> AssignWide(const std::vector<double>& a, size_t n, size_t m) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(m + 1, 0);
  std::vector<size_t> p(m + 1, 0), way(m + 1, 0);
  for (size_t i = 1; i <= n; ++i) {
    p[0] = i;
    size_t j0 = 0;
    std::vector<double> minv(m + 1, inf);
    std::vector<char> used(m + 1, 0);
    do {
      used[j0] = 1;
      const size_t i0 = p[j0];
      double delta = inf;
      size_t j1 = 0;
      for (size_t j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = a[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) minv[j] = cur, way[j] = j0;
        if (minv[j] < delta) delta = minv[j], j1 = j;
      }
      for (size_t j = 0; j <= m; ++j) {
        if (used[j]) u[p[j]] += delta, v[j] -= delta;
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const size_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  std::vector<int> out(n, -1);
  for (size_t j = 1; j <= m; ++j) {
    if (p[j]) out[p[j] - 1] = static_cast<int>(j - 1);
  }
  return out;
}

}  // namespace

std::vector<int> Assign(const std::vector<double>& cost, size_t rows, size_t cols) {
  if (rows == 0) return {};
  if (cols == 0) return std::vector<int>(rows, -1);
  if (rows <= cols) return AssignWide(cost, rows, cols);
  // More rows than columns: pair the columns with rows on the transpose.
  std::vector<double> t(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) t[c * rows + r] = cost[r * cols + c];
  }
  const std::vector<int> by_col = AssignWide(t, cols, rows);
  std::vector<int> out(rows, -1);
  for (size_t c = 0; c < cols; ++c) {
    if (by_col[c] >= 0) out[static_cast<size_t>(by_col[c])] = static_cast<int>(c);
  }
  return out;
}

}  // namespace aimass::mot
