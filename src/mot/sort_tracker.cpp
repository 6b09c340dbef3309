#include "mot/sort_tracker.hpp"

#include <algorithm>
#include <cmath>

#include "mot/assignment.hpp"

namespace aimass::mot {

std::vector<Track> SortTracker::Update(const std::vector<Detection>& detections) {
  ++frame_;
  for (size_t t = 0; t < tracks_.size(); ++t) {
    tracks_[t].box = filters_[t].Predict();
    ++tracks_[t].age;
    ++tracks_[t].missed;
    if (tracks_[t].missed > 1) tracks_[t].streak = 0;
  }
  // Pair tracks (rows) with detections (columns) on 1 - IoU.
  const size_t nt = tracks_.size(), nd = detections.size();
  std::vector<double> cost(nt * nd);
  for (size_t t = 0; t < nt; ++t) {
    for (size_t d = 0; d < nd; ++d) cost[t * nd + d] = 1 - IoU(tracks_[t].box, detections[d].box);
  }
  const std::vector<int> pair = Assign(cost, nt, nd);
  std::vector<char> used(nd, 0);
  for (size_t t = 0; t < nt; ++t) {
    const int d = pair[t];
    if (d < 0 || 1 - cost[t * nd + static_cast<size_t>(d)] < opt_.iou_threshold) continue;
    used[static_cast<size_t>(d)] = 1;
    filters_[t].Update(detections[static_cast<size_t>(d)].box);
    Track& tr = tracks_[t];
    tr.box = filters_[t].box();
    tr.missed = 0;
    ++tr.hits;
    ++tr.streak;
  }
  if (opt_.reacquire_distance > 0) {
    std::vector<size_t> lost, left;
    for (size_t t = 0; t < nt; ++t) {
      if (tracks_[t].missed > 0) lost.push_back(t);
    }
    for (size_t d = 0; d < nd; ++d) {
      if (!used[d]) left.push_back(d);
    }
    if (!lost.empty() && !left.empty()) {
      constexpr double kFar = 1e9;
      std::vector<double> dist(lost.size() * left.size(), kFar);
      for (size_t i = 0; i < lost.size(); ++i) {
        const Box& p = tracks_[lost[i]].box;
        for (size_t k = 0; k < left.size(); ++k) {
          const Box& q = detections[left[k]].box;
          const double h = std::max(p.height(), 1.0), ratio = q.height() / h;
          if (ratio < 0.67 || ratio > 1.5) continue;
          const double dx = (p.x1 + p.x2 - q.x1 - q.x2) / 2, dy = (p.y1 + p.y2 - q.y1 - q.y2) / 2;
          const double d = std::sqrt(dx * dx + dy * dy) / h;
          if (d <= opt_.reacquire_distance) dist[i * left.size() + k] = d;
        }
      }
      const std::vector<int> again = Assign(dist, lost.size(), left.size());
      for (size_t i = 0; i < lost.size(); ++i) {
        const int k = again[i];
        if (k < 0 || dist[i * left.size() + static_cast<size_t>(k)] >= kFar) continue;
        const size_t t = lost[i], d = left[static_cast<size_t>(k)];
        used[d] = 1;
        filters_[t].Update(detections[d].box);
        Track& tr = tracks_[t];
        tr.box = filters_[t].box();
        tr.missed = 0;
        ++tr.hits;
        ++tr.streak;
      }
    }
  }
  for (size_t d = 0; d < nd; ++d) {
    if (used[d]) continue;
    Track tr;
    tr.id = next_id_++;
    tr.box = detections[d].box;
    tr.hits = tr.streak = 1;
    tracks_.push_back(tr);
    filters_.emplace_back(detections[d].box);
  }
  // Tracks unseen for too long end.
  size_t keep = 0;
  for (size_t t = 0; t < tracks_.size(); ++t) {
    if (tracks_[t].missed > opt_.max_age) continue;
    if (keep != t) {
      tracks_[keep] = tracks_[t];
      filters_[keep] = filters_[t];
    }
    ++keep;
  }
  tracks_.resize(keep);
  filters_.erase(filters_.begin() + static_cast<std::ptrdiff_t>(keep), filters_.end());
  std::vector<Track> out;
  for (Track& tr : tracks_) {
    tr.confirmed = tr.confirmed || tr.streak >= opt_.min_hits || frame_ <= static_cast<uint64_t>(opt_.min_hits);
    tr.reported = tr.missed == 0 && tr.confirmed;
    if (tr.reported) out.push_back(tr);
  }
  std::sort(out.begin(), out.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
  return out;
}

std::vector<Track> SortTracker::Predict() {
  std::vector<Track> out;
  for (size_t t = 0; t < tracks_.size(); ++t) {
    // The filter steps a frame; Update's own prediction then steps the next one.
    tracks_[t].box = filters_[t].Predict();
    if (tracks_[t].reported) out.push_back(tracks_[t]);
  }
  std::sort(out.begin(), out.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
  return out;
}

}  // namespace aimass::mot
