// SORT (Bewley et al., 2016): multi-object tracking by detection. Each frame, every track's box
// is predicted by its Kalman filter, the frame's detections are paired with the predictions by
// the Hungarian method on 1 - IoU, pairs overlapping less than `iou_threshold` are refused, a
// paired track is updated, an unpaired detection starts a track, and a track unseen for more
// than `max_age` frames ends. A track is reported once it has `min_hits` detections in a row
// (or from the first frames of the video), so that a one-frame false detection gets no id.
// Tracks lost for a while get a second chance by distance (reacquire_distance).
#pragma once

#include <cstdint>
#include <vector>

#include "mot/geometry.hpp"
#include "mot/kalman_box.hpp"

namespace aimass::mot {

struct SortOptions {
  int max_age = 5;             // frames a track lives on without a detection
  int min_hits = 3;            // detections in a row before it is reported
  double iou_threshold = 0.3;  // least overlap of a detection with a track's prediction
  uint64_t first_id = 1;       // the first track's id (a restarted stream goes on from its last)
  // A second pairing, for tracks lost for a frame or more and the detections left over: by the
  // distance of their centres, in heights of the track's box, when the sizes agree. A person
  // walking behind a post comes out where the filter predicted, but rarely overlapping its
  // prediction enough for the first pairing. 0: none.
  double reacquire_distance = 0.5;
};

struct Detection {
  Box box;
  double score = 1;
};

struct Track {
  uint64_t id = 0;
  Box box;               // the filter's box (the detection's, smoothed)
  int hits = 0;          // detections in all
  int streak = 0;        // detections in a row
  int missed = 0;        // frames since its last detection (0: detected in this frame)
  int age = 0;           // frames since it started
  bool confirmed = false;  // had min_hits detections in a row once (a track found again needs no new streak)
  bool reported = false; // confirmed and detected at the last Update
};

class SortTracker {
 public:
  explicit SortTracker(SortOptions options = {}) : opt_(options) {}
  // One frame's detections; returns the tracks to report (detected in this frame and
  // confirmed), in the order of their ids.
  std::vector<Track> Update(const std::vector<Detection>& detections);
  // A frame without detection (detection runs on every n-th frame only): every track's box is
  // moved on by its filter; returns the tracks the last Update reported, at their predicted
  // boxes. Neither the age limit nor the confirmation counts these frames.
  std::vector<Track> Predict();
  // Every live track, reported or not (missed > 0 for those predicted through a gap).
  const std::vector<Track>& live() const { return tracks_; }
  uint64_t frames() const { return frame_; }
  uint64_t next_id() const { return next_id_; }

 private:
  SortOptions opt_;
  std::vector<Track> tracks_;
  std::vector<KalmanBox> filters_;  // one per track, same order
  uint64_t next_id_ = opt_.first_id;
  uint64_t frame_ = 0;
};

}  // namespace aimass::mot
