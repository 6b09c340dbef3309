// Crowd flow over a local video without a server (`aimass crowd analyze`): the same analysis a
// stream's worker runs, for trying lines, zones and detector settings on a recording, and for
// the tracking-quality test and the benchmark, which need every frame's tracks.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.hpp"

namespace aimass::crowd {

// `spec` is a stream definition (its url ignored). When `tracks_out` is not empty, every frame's
// tracks are written there as JSON lines {"frame", "tracks": [[id, x1, y1, x2, y2], …]}.
// Returns {"frames", "seconds", "fps", "lines": {name: {"in", "out"}}, "crossings": [...],
// "zones": {...}, "tracks"}.
// `max_frames` > 0 stops after that many frames.
Result<nlohmann::json> AnalyzeFile(const std::string& video, const nlohmann::json& spec, const std::string& tracks_out,
                                   uint64_t max_frames = 0);

}  // namespace aimass::crowd
