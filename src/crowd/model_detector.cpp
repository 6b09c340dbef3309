#include "crowd/model_detector.hpp"

#include <opencv2/imgproc.hpp>

#include "common/text.hpp"

namespace aimass::crowd {

using json = nlohmann::json;

std::vector<float> FrameTensor(const mot::Frame& frame, int w, int h) {
  cv::Mat m(frame.height, frame.width, CV_8UC3, const_cast<uint8_t*>(frame.bgr.data()));
  cv::Mat in = m;
  if (w != frame.width || h != frame.height) cv::resize(m, in, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  std::vector<float> t(static_cast<size_t>(3) * static_cast<size_t>(w) * static_cast<size_t>(h));
  const size_t plane = static_cast<size_t>(w) * static_cast<size_t>(h);
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = in.ptr<uint8_t>(y);
    for (int x = 0; x < w; ++x) {
      const size_t i = static_cast<size_t>(y) * static_cast<size_t>(w) + static_cast<size_t>(x);
      t[i] = row[3 * x + 2] / 255.0f;  // R
      t[plane + i] = row[3 * x + 1] / 255.0f;
      t[2 * plane + i] = row[3 * x] / 255.0f;
    }
  }
  return t;
}

std::vector<mot::Detection> ModelDetector::Detect(const mot::Frame& frame) {
  const std::string base = "/v2/models/" + PercentEncode(spec_.deployment);
  if (input_.empty()) {
    auto meta = call_("GET", base, nullptr);
    if (!meta.ok()) {
      status_ = meta.status();
      return {};
    }
    const json& inputs = (*meta)["inputs"];
    input_ = inputs.is_array() && !inputs.empty() && inputs[0].contains("name") ? inputs[0]["name"].get<std::string>() : "input";
  }
  const int w = spec_.width > 0 ? spec_.width : std::max(1, static_cast<int>(frame.width * spec_.scale));
  const int h = spec_.height > 0 ? spec_.height : std::max(1, static_cast<int>(frame.height * spec_.scale));
  json body = {{"inputs", json::array({{{"name", input_}, {"shape", {1, 3, h, w}}, {"datatype", "FP32"}, {"data", FrameTensor(frame, w, h)}}})}};
  auto answer = call_("POST", base + "/infer", &body);
  if (!answer.ok()) {
    status_ = answer.status();
    return {};
  }
  const json& outputs = (*answer)["outputs"];
  if (!outputs.is_array() || outputs.empty() || !outputs[0]["data"].is_array() || !outputs[0]["shape"].is_array()) {
    status_ = Status::BadGateway("the detection model answered without an output tensor");
    return {};
  }
  const json& shape = outputs[0]["shape"];
  const int64_t width = shape.empty() ? 0 : shape.back().get<int64_t>();
  if (width != 5 && width != 6) {
    status_ = Status::BadGateway("the detection model's output rows have " + std::to_string(width) +
                                 " values; a detector gives [x1, y1, x2, y2, score] or [x1, y1, x2, y2, score, class]");
    return {};
  }
  const json& data = outputs[0]["data"];
  const double sx = static_cast<double>(frame.width) / w, sy = static_cast<double>(frame.height) / h;
  std::vector<mot::Detection> out;
  for (size_t r = 0; r + static_cast<size_t>(width) <= data.size(); r += static_cast<size_t>(width)) {
    auto v = [&](size_t k) { return data[r + k].is_number() ? data[r + k].get<double>() : 0.0; };
    if (width == 6 && static_cast<int>(v(5)) != spec_.person_class) continue;
    if (v(4) < spec_.min_score) continue;
    mot::Box b{v(0) * sx, v(1) * sy, v(2) * sx, v(3) * sy};
    if (b.area() <= 0) continue;
    out.push_back({b, v(4)});
  }
  status_ = Status::Ok();
  return mot::Suppress(std::move(out), spec_.nms_iou);
}

}  // namespace aimass::crowd
