#include "mot/people_detector.hpp"

#include <algorithm>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/videoio.hpp>

namespace aimass::mot {

namespace {

class OpenCvVideo final : public VideoSource {
 public:
  explicit OpenCvVideo(cv::VideoCapture cap) : cap_(std::move(cap)) {}
  bool Read(Frame* frame) override {
    cv::Mat m;
    if (!cap_.read(m) || m.empty()) return false;
    if (m.type() != CV_8UC3) cv::cvtColor(m, m, m.channels() == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
    frame->width = m.cols;
    frame->height = m.rows;
    frame->bgr.assign(m.data, m.data + m.total() * 3);
    frame->index = next_++;
    return true;
  }
  double fps() const override { return cap_.get(cv::CAP_PROP_FPS); }
  void Skip(uint64_t n) override {
    for (uint64_t i = 0; i < n && cap_.grab(); ++i) ++next_;
  }

 private:
  mutable cv::VideoCapture cap_;
  uint64_t next_ = 0;
};

class ImageList final : public VideoSource {
 public:
  ImageList(std::vector<std::string> paths, double fps) : paths_(std::move(paths)), fps_(fps) {}
  bool Read(Frame* frame) override {
    while (next_ < paths_.size()) {
      cv::Mat m = cv::imread(paths_[next_], cv::IMREAD_COLOR);
      if (m.empty()) {
        status_ = Status::BadRequest("cannot read the image '" + paths_[next_] + "'");
        return false;
      }
      if (frame->width && (m.cols != frame->width || m.rows != frame->height)) {
        cv::resize(m, m, cv::Size(frame->width, frame->height));  // one size for the whole sequence
      }
      frame->width = m.cols;
      frame->height = m.rows;
      frame->bgr.assign(m.data, m.data + m.total() * 3);
      frame->index = next_++;
      return true;
    }
    return false;
  }
  double fps() const override { return fps_; }
  Status status() const override { return status_; }
  void Skip(uint64_t n) override { next_ = std::min<uint64_t>(paths_.size(), next_ + n); }

 private:
  std::vector<std::string> paths_;
  double fps_;
  uint64_t next_ = 0;
  Status status_ = Status::Ok();
};

class HogDetector final : public PeopleDetector {
 public:
  explicit HogDetector(HogOptions o) : opt_(o) { hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector()); }
  std::vector<Detection> Detect(const Frame& frame) override {
    cv::Mat m(frame.height, frame.width, CV_8UC3, const_cast<uint8_t*>(frame.bgr.data()));
    cv::Mat in = m;
    if (opt_.scale != 1.0) cv::resize(m, in, cv::Size(), opt_.scale, opt_.scale, cv::INTER_LINEAR);
    std::vector<cv::Rect> found;
    std::vector<double> weights;
    hog_.detectMultiScale(in, found, weights, opt_.hit_threshold, cv::Size(opt_.stride, opt_.stride), cv::Size(8, 8), opt_.pyramid_scale);
    std::vector<Detection> out;
    for (size_t i = 0; i < found.size(); ++i) {
      const double score = i < weights.size() ? weights[i] : 1.0;
      if (score < opt_.min_score) continue;
      const cv::Rect& r = found[i];
      // HOG's windows hold the person with a margin: shrink them as OpenCV's sample does.
      const double s = 1.0 / opt_.scale;
      const double mx = r.width * 0.1, my = r.height * 0.07;
      out.push_back({{(r.x + mx) * s, (r.y + my) * s, (r.x + r.width - mx) * s, (r.y + r.height - my) * s}, score});
    }
    return Suppress(std::move(out), opt_.nms_iou);
  }

 private:
  HogOptions opt_;
  cv::HOGDescriptor hog_;
};

}  // namespace

Result<std::unique_ptr<VideoSource>> OpenVideo(const std::string& url) {
  cv::VideoCapture cap(url, cv::CAP_FFMPEG);
  if (!cap.isOpened()) cap.open(url, cv::CAP_ANY);  // image sequences (frame%04d.png)
  if (!cap.isOpened()) return Status::BadRequest("cannot open the video '" + url.substr(0, 256) + "'");
  return std::unique_ptr<VideoSource>(new OpenCvVideo(std::move(cap)));
}

Result<std::unique_ptr<VideoSource>> OpenImages(std::vector<std::string> paths, double fps) {
  if (paths.empty()) return Status::BadRequest("no images to read");
  return std::unique_ptr<VideoSource>(new ImageList(std::move(paths), fps > 0 ? fps : 10));
}

std::unique_ptr<PeopleDetector> MakeHogDetector(HogOptions options) { return std::make_unique<HogDetector>(options); }

std::vector<Detection> Suppress(std::vector<Detection> d, double iou) {
  std::sort(d.begin(), d.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> kept;
  for (const auto& x : d) {
    bool overlaps = false;
    for (const auto& k : kept) overlaps = overlaps || IoU(x.box, k.box) > iou;
    if (!overlaps) kept.push_back(x);
  }
  return kept;
}

}  // namespace aimass::mot
