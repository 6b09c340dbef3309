// A crowd-flow stream as users define it (POST /api/v1/crowd/streams): where its frames come
// from, how people are detected and tracked, its counting lines and zones. Parsed and checked
// whole; kept as the JSON ToJson writes, which the worker reads back with the same parser.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "mot/flow_analyzer.hpp"

namespace aimass::crowd {

struct DetectorSpec {
  std::string kind = "hog";  // hog | model
  int every = 1;             // detection on every n-th frame, tracking in between
  double scale = 1.0;        // frames resized by this before detection
  double min_score = 0.3;    // detections scored below are dropped
  double nms_iou = 0.45;
  double hit_threshold = 0;  // hog: the SVM's margin
  double pyramid = 1.05;     // hog: the ratio between the sizes it searches
  std::string deployment;    // model: the platform's deployment that detects
  int width = 0, height = 0; // model: its input size (0: the frame's, after scale)
  int person_class = 0;      // model: the class that is a person, when the model gives classes
};

struct StreamSpec {
  std::string name;
  std::string url;            // rtsp(s)://, http(s)://, or a local path (file:// or absolute)
  std::string dataset, dataset_version = "latest";  // or a files dataset: one video, or images
  double fps = 0;             // frames a second taken from the source; 0: every frame
  bool realtime = false;      // read a file no faster than its own frame rate
  std::vector<mot::Point> roi;
  DetectorSpec detector;
  mot::SortOptions tracker;   // first_id is the stream's, not the user's
  int linger = 30;
  double rearm = 0.25;        // box heights past a line before a counted track counts again
  std::vector<mot::CountingLine> lines;
  std::vector<mot::Zone> zones;
  double live_fps = 5;        // annotated frames a second sent to live viewers
  std::optional<int64_t> start_ms;  // a file's first frame's time; absent: when the stream started

  bool local_file() const { return dataset.empty() && !url.starts_with("rtsp://") && !url.starts_with("rtsps://") &&
                                   !url.starts_with("http://") && !url.starts_with("https://"); }
  // A local file's path (file:// removed).
  std::string path() const { return url.starts_with("file://") ? url.substr(7) : url; }
};

Result<StreamSpec> ParseStreamSpec(const nlohmann::json& j);
// What the analysis takes from a definition: the HOG detector's options, and the flow's
// (detection cadence, tracker, lines' linger and re-arm, region of interest).
mot::HogOptions HogOptionsOf(const DetectorSpec& d);
mot::FlowOptions FlowOptionsOf(const StreamSpec& s);
nlohmann::json ToJson(const StreamSpec& s);

Result<mot::CountingLine> ParseLine(const nlohmann::json& j);
Result<mot::Zone> ParseZone(const nlohmann::json& j);
nlohmann::json ToJson(const mot::CountingLine& l);
nlohmann::json ToJson(const mot::Zone& z);

}  // namespace aimass::crowd
