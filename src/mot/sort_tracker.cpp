#include "mot/sort_tracker.hpp"

#include <algorithm>

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
  for (const Track& tr : tracks_) {
    const bool confirmed = tr.streak >= opt_.min_hits || frame_ <= static_cast<uint64_t>(opt_.min_hits);
    if (tr.missed == 0 && confirmed) out.push_back(tr);
  }
  std::sort(out.begin(), out.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
  return out;
}

}  // namespace aimass::mot
