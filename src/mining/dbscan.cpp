#include "mining/dbscan.hpp"

#include <cmath>

#include <nanoflann.hpp>

#include "common/cpus.hpp"
#include "common/parallel_for.hpp"

namespace aimass::mining {

namespace {

// nanoflann reads the points through this.
struct Cloud {
  const Points& p;
  size_t kdtree_get_point_count() const { return p.n; }
  double kdtree_get_pt(size_t i, size_t dim) const { return p.x[i * p.d + dim]; }
  template <class Box>
  bool kdtree_get_bbox(Box&) const { return false; }
};

using Tree = nanoflann::KDTreeSingleIndexAdaptor<nanoflann::L2_Simple_Adaptor<double, Cloud>, Cloud, -1, size_t>;

// nanoflann keeps points strictly closer than the set's worst distance; DBSCAN's neighbourhood
// includes the boundary, so the worst distance is the next double above eps².
class Within {
 public:
  Within(double radius_sq, std::vector<size_t>* found) : radius_sq_(radius_sq), found_(found) {}
  void init() { clear(); }
  void clear() {
    count_ = 0;
    if (found_) found_->clear();
  }
  size_t size() const { return count_; }
  bool full() const { return true; }
  bool addPoint(double dist, size_t index) {
    if (dist <= radius_sq_) {
      ++count_;
      if (found_) found_->push_back(index);
    }
    return true;
  }
  double worstDist() const { return std::nextafter(radius_sq_, INFINITY); }

 private:
  double radius_sq_;
  std::vector<size_t>* found_;
  size_t count_ = 0;
};

}  // namespace

Result<DbscanResult> Dbscan(const Points& p, const DbscanOptions& o) {
  if (!(o.eps > 0) || !std::isfinite(o.eps)) return Status::BadRequest("eps must be a positive number");
  if (o.min_samples < 1) return Status::BadRequest("min_samples must be at least 1");
  if (p.d == 0) return Status::BadRequest("the points have no dimensions");
  DbscanResult r;
  r.labels.assign(p.n, -1);
  if (p.n == 0) return r;
  Cloud cloud{p};
  Tree tree(static_cast<int>(p.d), cloud, nanoflann::KDTreeSingleIndexAdaptorParams(16));
  const double radius_sq = o.eps * o.eps;
  const nanoflann::SearchParams unsorted(32, 0, false);
  // Which points are core: every neighbourhood counted once, on all threads.
  std::vector<uint8_t> core(p.n, 0);
  ParallelFor(p.n, o.threads > 0 ? o.threads : UsableCpus(), [&](size_t i, size_t) {
    Within count(radius_sq, nullptr);
    tree.findNeighbors(count, p.row(i), unsorted);
    core[i] = count.size() >= o.min_samples;
  });
  // Clusters grow from each unvisited core point through the neighbourhoods of core points.
  std::vector<size_t> stack, near;
  for (size_t seed = 0; seed < p.n; ++seed) {
    if (!core[seed] || r.labels[seed] >= 0) continue;
    if (Stopped(o.stop)) return Status::Conflict("stopped");
    const int c = r.clusters++;
    r.labels[seed] = c;
    stack.assign(1, seed);
    while (!stack.empty()) {
      const size_t at = stack.back();
      stack.pop_back();
      Within found(radius_sq, &near);
      tree.findNeighbors(found, p.row(at), unsorted);
      for (size_t q : near) {
        if (r.labels[q] >= 0) continue;
        r.labels[q] = c;
        if (core[q]) stack.push_back(q);
      }
    }
  }
  for (size_t i = 0; i < p.n; ++i) {
    r.core += core[i];
    r.noise += r.labels[i] < 0;
  }
  return r;
}

}  // namespace aimass::mining
