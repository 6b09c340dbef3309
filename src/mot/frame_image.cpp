#include "mot/frame_image.hpp"

#include <algorithm>
#include <cstdio>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace aimass::mot {

namespace {

cv::Mat View(const Frame& f) { return cv::Mat(f.height, f.width, CV_8UC3, const_cast<uint8_t*>(f.bgr.data())); }

std::string Encode(const char* ext, const cv::Mat& m, std::vector<int> params) {
  std::vector<uchar> buf;
  cv::imencode(ext, m, buf, params);
  return std::string(buf.begin(), buf.end());
}

cv::Point Pt(Point p) { return {static_cast<int>(p.x), static_cast<int>(p.y)}; }

// A colour per track id, stable and far apart (golden-angle hues).
cv::Scalar IdColour(uint64_t id) {
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(static_cast<double>((id * 137) % 180), 200, 255)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const auto c = bgr.at<cv::Vec3b>(0, 0);
  return {static_cast<double>(c[0]), static_cast<double>(c[1]), static_cast<double>(c[2])};
}

void Label(cv::Mat& m, const std::string& text, cv::Point at, cv::Scalar colour) {
  int base = 0;
  const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, 0.5, 1, &base);
  cv::rectangle(m, at + cv::Point(0, base), at + cv::Point(size.width, -size.height - 2), cv::Scalar(0, 0, 0), cv::FILLED);
  cv::putText(m, text, at, cv::FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv::LINE_AA);
}

}  // namespace

std::string EncodeJpeg(const Frame& frame, int quality) {
  return Encode(".jpg", View(frame), {cv::IMWRITE_JPEG_QUALITY, quality});
}

std::string AnnotatedJpeg(const Frame& frame, const FrameView& view, const LineCounter& lines, const ZoneMonitor& zones,
                          int quality) {
  cv::Mat m = View(frame).clone();
  for (size_t z = 0; z < zones.zones().size(); ++z) {
    const Zone& zone = zones.zones()[z];
    std::vector<cv::Point> poly;
    for (const Point& p : zone.polygon) poly.push_back(Pt(p));
    cv::Mat overlay = m.clone();
    cv::fillPoly(overlay, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(255, 160, 0));
    cv::addWeighted(overlay, 0.2, m, 0.8, 0, m);
    cv::polylines(m, std::vector<std::vector<cv::Point>>{poly}, true, cv::Scalar(255, 160, 0), 2);
    const int occ = z < view.occupancy.size() ? view.occupancy[z] : 0;
    if (!poly.empty()) Label(m, zone.name + ": " + std::to_string(occ), poly[0] + cv::Point(4, 16), cv::Scalar(255, 200, 80));
  }
  for (size_t l = 0; l < lines.lines().size(); ++l) {
    const CountingLine& line = lines.lines()[l];
    cv::arrowedLine(m, Pt(line.a), Pt(line.b), cv::Scalar(0, 220, 255), 2, cv::LINE_AA, 0, 0.03);
    Label(m, line.name + " in " + std::to_string(lines.in(l)) + " out " + std::to_string(lines.out(l)), Pt(line.a) + cv::Point(4, -6),
          cv::Scalar(0, 220, 255));
  }
  for (const Track& t : view.tracks) {
    const cv::Scalar c = IdColour(t.id);
    cv::rectangle(m, cv::Point(static_cast<int>(t.box.x1), static_cast<int>(t.box.y1)),
                  cv::Point(static_cast<int>(t.box.x2), static_cast<int>(t.box.y2)), c, 2);
    cv::circle(m, Pt(t.box.BottomCentre()), 3, c, cv::FILLED);
    Label(m, "#" + std::to_string(t.id), cv::Point(static_cast<int>(t.box.x1), static_cast<int>(t.box.y1) - 3), c);
  }
  char head[96];
  std::snprintf(head, sizeof(head), "frame %llu  people %zu", static_cast<unsigned long long>(view.frame), view.tracks.size());
  Label(m, head, cv::Point(8, 20), cv::Scalar(255, 255, 255));
  return Encode(".jpg", m, {cv::IMWRITE_JPEG_QUALITY, quality});
}

Result<std::string> HeatmapPng(const std::vector<double>& grid, int grid_width, int grid_height, int width, int height,
                               const std::string& background_jpeg) {
  if (grid_width <= 0 || grid_height <= 0 || grid.size() != static_cast<size_t>(grid_width) * static_cast<size_t>(grid_height)) {
    return Status::NotFound("no presence recorded yet");
  }
  cv::Mat g(grid_height, grid_width, CV_64F, const_cast<double*>(grid.data()));
  cv::Mat smooth;
  cv::GaussianBlur(g, smooth, cv::Size(5, 5), 1.2);
  double lo = 0, hi = 0;
  cv::minMaxLoc(smooth, &lo, &hi);
  cv::Mat level;
  smooth.convertTo(level, CV_8U, hi > 0 ? 255.0 / hi : 0.0);
  cv::resize(level, level, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  cv::Mat colour;
  cv::applyColorMap(level, colour, cv::COLORMAP_JET);
  cv::Mat out = colour;
  if (!background_jpeg.empty()) {
    std::vector<uchar> bytes(background_jpeg.begin(), background_jpeg.end());
    cv::Mat bg = cv::imdecode(bytes, cv::IMREAD_COLOR);
    if (!bg.empty()) {
      if (bg.cols != width || bg.rows != height) cv::resize(bg, bg, cv::Size(width, height));
      // Where nobody stood the frame shows through; the more presence, the more colour.
      out = bg.clone();
      for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
          const double a = 0.65 * level.at<uchar>(y, x) / 255.0;
          const auto c = colour.at<cv::Vec3b>(y, x);
          auto& o = out.at<cv::Vec3b>(y, x);
          for (int k = 0; k < 3; ++k) o[k] = cv::saturate_cast<uchar>(o[k] * (1 - a) + c[k] * a);
        }
      }
    }
  }
  return Encode(".png", out, {});
}

}  // namespace aimass::mot
