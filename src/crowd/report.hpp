// What a stream's worker tells the platform every second (POST …/report), as JSON both ways:
// the frames it covers, tallies per second and counter, tracks that ended with their paths and
// crossings, zone visits, alerts, the presence grid's new cells and who is in view now. The
// server's parser checks every field (the body comes over the network; fuzzed by crowd_fuzz).
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.hpp"
#include "crowd/store.hpp"
#include "mot/flow_analyzer.hpp"

namespace aimass::crowd {

// The state of the worker when it reports.
struct WorkerState {
  int64_t run = 0, from_frame = 0, to_frame = 0, next_track = 0;
  std::string state = "running";  // running | reconnecting | finished | failed
  std::string error;
  int64_t width = 0, height = 0;
  double video_fps = 0, fps = 0;
};

nlohmann::json EncodeReport(const WorkerState& w, const mot::FlowReport& r, const nlohmann::json& now);
Result<Report> ParseReport(const nlohmann::json& j);

}  // namespace aimass::crowd
