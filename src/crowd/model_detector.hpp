// People detected by a model the platform serves: each frame goes to a deployment's KServe v2
// infer route as one FP32 tensor [1, 3, H, W] (RGB, 0-1, resized to the detector's size), and
// the first output is read as rows [x1, y1, x2, y2, score] or [x1, y1, x2, y2, score, class]
// in the input's pixels (shape [N, 5|6] or [1, N, 5|6]: what SSD- and YOLO-style exports give
// after their own decoding). Rows of other classes, or scored below min_score, are dropped;
// non-maximum suppression follows.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "crowd/stream_spec.hpp"
#include "mot/people_detector.hpp"

namespace aimass::crowd {

// Sends a JSON request to the platform (method, path, body) and returns its JSON answer.
using PlatformCall = std::function<Result<nlohmann::json>(const std::string& method, const std::string& path, const nlohmann::json* body)>;

// The detector keeps the last error (a deployment gone, a bad answer) for the worker to report.
class ModelDetector final : public mot::PeopleDetector {
 public:
  ModelDetector(DetectorSpec spec, PlatformCall call) : spec_(std::move(spec)), call_(std::move(call)) {}
  std::vector<mot::Detection> Detect(const mot::Frame& frame) override;
  const Status& status() const { return status_; }

 private:
  DetectorSpec spec_;
  PlatformCall call_;
  std::string input_;  // the model's input name, asked once
  Status status_ = Status::Ok();
};

// The frame as [3, h, w] RGB floats in 0-1, resized to w × h (OpenCV stays in the .cpp).
std::vector<float> FrameTensor(const mot::Frame& frame, int w, int h);

}  // namespace aimass::crowd
