// Pictures of crowd flow: a frame as JPEG, a frame annotated with what the analysis sees (boxes
// and ids, counting lines with their counts, zones with their occupancy), and the presence
// heatmap as a coloured PNG, over a frame when one is given. OpenCV's headers stay in
// frame_image.cpp.
#pragma once

#include <string>
#include <vector>

#include "common/status.hpp"
#include "mot/flow_analyzer.hpp"

namespace aimass::mot {

std::string EncodeJpeg(const Frame& frame, int quality = 80);

// `lines` and `zones` as the analyzer has them (its line counts are drawn beside each line).
std::string AnnotatedJpeg(const Frame& frame, const FrameView& view, const LineCounter& lines, const ZoneMonitor& zones,
                          int quality = 80);

// `grid` is grid_width × grid_height presence counts; the picture is width × height, the counts
// smoothed and coloured (none: transparent over the background, or dark), over `background_jpeg`
// when not empty.
Result<std::string> HeatmapPng(const std::vector<double>& grid, int grid_width, int grid_height, int width, int height,
                               const std::string& background_jpeg);

}  // namespace aimass::mot
