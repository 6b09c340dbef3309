// People in a frame: the detector interface crowd-flow analysis uses, OpenCV's HOG + linear SVM
// pedestrian detector (Dalal and Triggs, 2005) behind it by default, and frames read from a video
// file or stream. OpenCV's headers stay in people_detector.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "mot/sort_tracker.hpp"

namespace aimass::mot {

// A frame as packed BGR bytes.
struct Frame {
  int width = 0, height = 0;
  std::vector<uint8_t> bgr;  // width × height × 3
  uint64_t index = 0;        // from 0
};

class VideoSource {
 public:
  virtual ~VideoSource() = default;
  // The next frame; false at the end (or on a read error: `status()` says which).
  virtual bool Read(Frame* frame) = 0;
  virtual double fps() const = 0;
  virtual Status status() const { return Status::Ok(); }
  // Skips `n` frames without decoding them all (a restarted stream goes on where it stopped);
  // the frames after keep their indexes.
  virtual void Skip(uint64_t n) = 0;
};

// A video file, image sequence pattern or stream URL (rtsp://, http:// MJPEG), through OpenCV's
// FFmpeg back end.
Result<std::unique_ptr<VideoSource>> OpenVideo(const std::string& url);
// Image files read in the given order as frames at `fps` (an image sequence from a dataset).
Result<std::unique_ptr<VideoSource>> OpenImages(std::vector<std::string> paths, double fps);

struct HogOptions {
  double scale = 1.0;          // the frame is resized by this before detection (< 1: faster, fewer small people)
  double hit_threshold = 0.0;  // the SVM's margin a window needs
  double pyramid_scale = 1.05;
  int stride = 8;              // window stride in pixels
  double nms_iou = 0.45;       // boxes overlapping more than this keep only the best
  double min_score = 0.3;      // weights below are dropped
};

class PeopleDetector {
 public:
  virtual ~PeopleDetector() = default;
  virtual std::vector<Detection> Detect(const Frame& frame) = 0;
};

std::unique_ptr<PeopleDetector> MakeHogDetector(HogOptions options = {});

// Non-maximum suppression: the detections kept, best score first.
std::vector<Detection> Suppress(std::vector<Detection> detections, double iou);

}  // namespace aimass::mot
