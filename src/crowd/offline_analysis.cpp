#include "crowd/offline_analysis.hpp"

#include <chrono>
#include <fstream>
#include <set>

#include "crowd/stream_spec.hpp"

namespace aimass::crowd {

using json = nlohmann::json;

Result<json> AnalyzeFile(const std::string& video, const json& spec_json, const std::string& tracks_out, uint64_t max_frames) {
  json j = spec_json.is_object() ? spec_json : json::object();
  j.erase("dataset");
  j["url"] = "/analyze";
  if (!j.contains("name")) j["name"] = "analyze";
  AIMASS_ASSIGN_OR_RETURN(StreamSpec spec, ParseStreamSpec(j));
  AIMASS_ASSIGN_OR_RETURN(auto source, mot::OpenVideo(video));
  if (spec.detector.kind != "hog") return Status::BadRequest("crowd analyze runs the hog detector only (a model detector needs the platform)");
  auto detector = mot::MakeHogDetector(HogOptionsOf(spec.detector));
  mot::FlowAnalyzer analyzer(*detector, FlowOptionsOf(spec), spec.lines, spec.zones);
  double fps = source->fps();
  if (!(fps > 0 && fps < 1000)) fps = 25;
  std::ofstream out;
  if (!tracks_out.empty()) {
    out.open(tracks_out);
    if (!out) return Status::BadRequest("cannot write " + tracks_out);
  }
  json crossings = json::array();
  std::set<uint64_t> ids;
  mot::Frame frame;
  uint64_t frames = 0;
  const auto start = std::chrono::steady_clock::now();
  while ((max_frames == 0 || frames < max_frames) && source->Read(&frame)) {
    const auto& view = analyzer.Process(frame, static_cast<int64_t>(static_cast<double>(frame.index) * 1000.0 / fps));
    ++frames;
    for (const auto& c : view.crossings) {
      crossings.push_back({{"line", c.line}, {"track", c.track}, {"direction", c.direction == mot::Direction::kIn ? "in" : "out"}, {"frame", c.frame}});
    }
    for (const auto& t : view.tracks) ids.insert(t.id);
    if (out.is_open()) {
      json tr = json::array();
      for (const auto& t : view.tracks) tr.push_back({t.id, t.box.x1, t.box.y1, t.box.x2, t.box.y2});
      out << json{{"frame", frame.index}, {"tracks", tr}}.dump() << "\n";
    }
  }
  if (!source->status().ok()) return source->status();
  analyzer.Finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json lines = json::object();
  for (size_t l = 0; l < analyzer.lines().lines().size(); ++l) {
    lines[analyzer.lines().lines()[l].name] = {{"in", analyzer.lines().in(l)}, {"out", analyzer.lines().out(l)}};
  }
  return json{{"video", video},   {"frames", frames}, {"seconds", seconds}, {"fps", seconds > 0 ? static_cast<double>(frames) / seconds : 0.0},
              {"lines", lines},   {"crossings", crossings}, {"tracks", ids.size()}};
}

}  // namespace aimass::crowd
