#include "mot/flow_analyzer.hpp"

#include <algorithm>
#include <set>

namespace aimass::mot {

void Tally::Merge(const Tally& o) {
  in += o.in;
  out += o.out;
  occupancy_max = std::max(occupancy_max, o.occupancy_max);
  occupancy_sum += o.occupancy_sum;
  frames += o.frames;
}

FlowAnalyzer::FlowAnalyzer(PeopleDetector& detector, FlowOptions options, std::vector<CountingLine> lines, std::vector<Zone> zones)
    : detector_(detector), o_(std::move(options)), tracker_(o_.sort), lines_(std::move(lines), o_.linger, o_.rearm),
      zones_(std::move(zones), o_.leave_ms) {
  o_.detect_every = std::max(1, o_.detect_every);
  o_.heat_cell = std::max(1, o_.heat_cell);
}

TrackRecord& FlowAnalyzer::RecordOf(uint64_t id) {
  auto [it, fresh] = records_.try_emplace(id);
  if (fresh) it->second.id = id;
  return it->second;
}

const FrameView& FlowAnalyzer::Process(const Frame& frame, int64_t time_ms) {
  view_ = FrameView{};
  view_.frame = frame.index;
  view_.time_ms = time_ms;
  if (heat_.empty()) {
    pending_.grid_width = (frame.width + o_.heat_cell - 1) / o_.heat_cell;
    pending_.grid_height = (frame.height + o_.heat_cell - 1) / o_.heat_cell;
    heat_.assign(static_cast<size_t>(pending_.grid_width) * static_cast<size_t>(pending_.grid_height), 0);
  }
  if (frames_ % static_cast<uint64_t>(o_.detect_every) == 0) {
    view_.detected = true;
    view_.detections = detector_.Detect(frame);
    if (o_.roi.size() >= 3) {
      std::erase_if(view_.detections, [&](const Detection& d) { return !InPolygon(o_.roi, d.box.BottomCentre()); });
    }
    view_.tracks = tracker_.Update(view_.detections);
  } else {
    view_.tracks = tracker_.Predict();
  }
  ++frames_;

  std::vector<std::pair<uint64_t, Box>> boxes;
  std::vector<std::pair<uint64_t, Point>> feet;
  for (const Track& t : view_.tracks) {
    boxes.emplace_back(t.id, t.box);
    feet.emplace_back(t.id, t.box.BottomCentre());
  }
  view_.crossings = lines_.Update(frame.index, boxes);
  view_.alerts = zones_.Update(frame.index, time_ms, feet);
  view_.occupancy = zones_.occupancy();

  const int64_t second = time_ms >= 0 ? time_ms / 1000 : (time_ms - 999) / 1000;
  auto& bucket = pending_.buckets[second];
  for (auto& c : view_.crossings) {
    c.time_ms = time_ms;
    Tally& t = bucket[{"line", c.line}];
    (c.direction == Direction::kIn ? t.in : t.out) += 1;
    RecordOf(c.track).crossings.push_back(c);
    pending_.crossings.push_back(c);
  }
  // Every line and zone has a tally each second, so that a quiet second reads as zero.
  for (const auto& l : lines_.lines()) bucket[{"line", l.name}];
  for (size_t z = 0; z < zones_.zones().size(); ++z) {
    Tally& t = bucket[{"zone", zones_.zones()[z].name}];
    t.occupancy_max = std::max(t.occupancy_max, view_.occupancy[z]);
    t.occupancy_sum += static_cast<uint64_t>(view_.occupancy[z]);
    ++t.frames;
  }
  Tally& people = bucket[{"people", ""}];
  people.occupancy_max = std::max(people.occupancy_max, static_cast<int>(view_.tracks.size()));
  people.occupancy_sum += view_.tracks.size();
  ++people.frames;
  for (auto& a : view_.alerts) pending_.alerts.push_back(a);

  for (const auto& [id, p] : feet) {
    TrackRecord& r = RecordOf(id);
    if (r.path.empty()) {
      r.first_frame = frame.index;
      r.first_ms = time_ms;
    }
    r.last_frame = frame.index;
    r.last_ms = time_ms;
    r.path.push_back({static_cast<double>(frame.index), p.x, p.y});
    if (r.path.size() > 2 * o_.path_points) {
      // Keep every other point (the last one always), so a long stay costs bounded memory.
      std::vector<std::array<double, 3>> thin;
      for (size_t i = 0; i < r.path.size(); i += 2) thin.push_back(r.path[i]);
      if (thin.back() != r.path.back()) thin.push_back(r.path.back());
      r.path = std::move(thin);
    }
    const int cx = static_cast<int>(p.x) / o_.heat_cell, cy = static_cast<int>(p.y) / o_.heat_cell;
    if (p.x >= 0 && p.y >= 0 && cx < pending_.grid_width && cy < pending_.grid_height) {
      ++heat_[static_cast<size_t>(cy) * static_cast<size_t>(pending_.grid_width) + static_cast<size_t>(cx)];
    }
  }
  EndTracks(false);
  return view_;
}

void FlowAnalyzer::EndTracks(bool all) {
  std::set<uint64_t> live;
  if (!all) {
    for (const Track& t : tracker_.live()) live.insert(t.id);
  }
  for (ZoneVisit& v : zones_.TakeVisits()) pending_.visits.push_back(std::move(v));
  for (auto it = records_.begin(); it != records_.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    pending_.tracks.push_back(std::move(it->second));
    it = records_.erase(it);
  }
}

void FlowAnalyzer::Finish() {
  zones_.Finish();
  EndTracks(true);
}

void FlowAnalyzer::Reconfigure(std::vector<CountingLine> lines, std::vector<Zone> zones) {
  zones_.Finish();
  for (ZoneVisit& v : zones_.TakeVisits()) pending_.visits.push_back(std::move(v));
  lines_ = LineCounter(std::move(lines), o_.linger, o_.rearm);
  zones_ = ZoneMonitor(std::move(zones), o_.leave_ms);
}

FlowReport FlowAnalyzer::Take() {
  FlowReport r = std::move(pending_);
  pending_ = FlowReport{};
  pending_.grid_width = r.grid_width;
  pending_.grid_height = r.grid_height;
  for (size_t i = 0; i < heat_.size(); ++i) {
    if (heat_[i]) r.heat.emplace_back(static_cast<uint32_t>(i), heat_[i]);
  }
  std::fill(heat_.begin(), heat_.end(), 0);
  return r;
}

}  // namespace aimass::mot
