#include "cli/crowd_commands.hpp"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/api_client.hpp"
#include "cli/output.hpp"
#include "crowd/offline_analysis.hpp"
#include "crowd/worker.hpp"

namespace aimass::cli {

using nlohmann::json;

struct CrowdCommands {
  CLI::App *streams = nullptr, *create = nullptr, *show = nullptr, *del = nullptr, *pause = nullptr, *resume = nullptr, *line = nullptr,
           *zone = nullptr, *counts = nullptr, *tracks = nullptr, *alerts = nullptr, *heatmap = nullptr, *snapshot = nullptr,
           *worker = nullptr, *analyze = nullptr;
  std::string stream, url, dataset, tracks_out, version, file, detector, deployment, name, points, from, to, interval = "1m", output;
  std::vector<std::string> lines, zones;
  double fps = 0, scale = 1, loiter_s = 0;
  int every = 1, max_occupancy = 0;
  int64_t limit = 100, max_frames = 0;
  bool realtime = false, remove = false;
};

namespace {

constexpr const char* kBase = "/api/v1/crowd/streams";

std::string StreamPath(const std::string& s) { return std::string(kBase) + "/" + UrlEncode(s); }

// "x1,y1 x2,y2 …" (or separated by ';') → [[x1, y1], …]
Result<json> ParsePoints(const std::string& text) {
  json pts = json::array();
  std::string t = text;
  for (char& c : t) {
    if (c == ';') c = ' ';
  }
  std::istringstream in(t);
  std::string p;
  while (in >> p) {
    const size_t comma = p.find(',');
    try {
      if (comma == std::string::npos) throw std::invalid_argument(p);
      pts.push_back({std::stod(p.substr(0, comma)), std::stod(p.substr(comma + 1))});
    } catch (...) {
      return Status::BadRequest("'" + p + "' is not a point x,y");
    }
  }
  return pts;
}

// name:x1,y1;x2,y2
Result<json> NamedPoints(const std::string& text) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return Status::BadRequest("'" + text + "' is not name:x,y;x,y…");
  AIMASS_ASSIGN_OR_RETURN(json pts, ParsePoints(text.substr(colon + 1)));
  return json{{"name", text.substr(0, colon)}, {"points", pts}};
}

int SaveBytes(ApiClient& api, const std::string& path, const std::string& out) {
  auto r = api.Send(http::Method::kGet, path, "", {});
  if (!r.ok()) return Fail(r.status());
  if (r->status != 200) {
    json j = json::parse(r->body, nullptr, false);
    return Fail(Status::BadRequest(j.is_object() && j.contains("error") ? j["error"].value("message", r->body) : r->body));
  }
  std::ofstream f(out, std::ios::binary);
  f.write(r->body.data(), static_cast<std::streamsize>(r->body.size()));
  if (!f) return Fail(Status::Internal("cannot write " + out));
  std::cout << "Wrote " << out << " (" << r->body.size() << " bytes)\n";
  return 0;
}

}  // namespace

std::shared_ptr<CrowdCommands> AddCrowdCommands(CLI::App& app) {
  auto c = std::make_shared<CrowdCommands>();
  auto* root = app.add_subcommand("crowd", "Crowd flow: people counted and tracked in video streams");
  root->require_subcommand(1);
  c->streams = root->add_subcommand("streams", "List the streams");
  c->create = root->add_subcommand("create", "Start a stream (a cluster job follows it)");
  c->create->add_option("stream", c->stream, "Stream name")->required();
  c->create->add_option("--url", c->url, "rtsp://, http(s):// (MJPEG) or a video file's path under crowd.video_dirs");
  c->create->add_option("--dataset", c->dataset, "A files dataset holding a video or images");
  c->create->add_option("--version", c->version, "The dataset's version (latest)");
  c->create->add_option("--file", c->file, "The whole definition as JSON (flags given override it)");
  c->create->add_option("--fps", c->fps, "Frames a second taken from the source (0: all)");
  c->create->add_option("--every", c->every, "Detect on every n-th frame, track in between");
  c->create->add_option("--scale", c->scale, "Resize frames by this before detection");
  c->create->add_option("--detector", c->detector, "hog (default) or model");
  c->create->add_option("--deployment", c->deployment, "The deployment of a model detector");
  c->create->add_option("--line", c->lines, "A counting line name:x1,y1;x2,y2 (repeatable)");
  c->create->add_option("--zone", c->zones, "A zone name:x,y;x,y;x,y… (repeatable)");
  c->create->add_flag("--realtime", c->realtime, "Read a file no faster than its frame rate");
  for (auto [cmd, what] : {std::pair{&c->show, "Show a stream"}, std::pair{&c->del, "Delete a stream and its counts"},
                           std::pair{&c->pause, "Pause a stream"}, std::pair{&c->resume, "Resume a stream"}}) {
    *cmd = root->add_subcommand(std::string(cmd == &c->show ? "show" : cmd == &c->del ? "delete" : cmd == &c->pause ? "pause" : "resume"), what);
    (*cmd)->add_option("stream", c->stream, "Stream name")->required();
  }
  c->line = root->add_subcommand("line", "Add or replace a counting line (in: from its left to its right)");
  c->line->add_option("stream", c->stream, "Stream name")->required();
  c->line->add_option("name", c->name, "Line name")->required();
  c->line->add_option("points", c->points, "x1,y1;x2,y2 in the video's pixels");
  c->line->add_flag("--remove", c->remove, "Remove the line");
  c->zone = root->add_subcommand("zone", "Add or replace a zone");
  c->zone->add_option("stream", c->stream, "Stream name")->required();
  c->zone->add_option("name", c->name, "Zone name")->required();
  c->zone->add_option("points", c->points, "x,y;x,y;x,y… (a polygon)");
  c->zone->add_option("--max-occupancy", c->max_occupancy, "More people than this raise overcrowding");
  c->zone->add_option("--loiter-s", c->loiter_s, "A stay longer than this raises loitering");
  c->zone->add_flag("--remove", c->remove, "Remove the zone");
  c->counts = root->add_subcommand("counts", "Counts per line and zone, per interval");
  c->counts->add_option("stream", c->stream, "Stream name")->required();
  c->counts->add_option("--from", c->from, "RFC 3339");
  c->counts->add_option("--to", c->to, "RFC 3339");
  c->counts->add_option("--interval", c->interval, "1s, 10s, 1m (default), 1h, 1d");
  c->tracks = root->add_subcommand("tracks", "Tracks that ended");
  c->tracks->add_option("stream", c->stream, "Stream name")->required();
  c->tracks->add_option("--limit", c->limit, "At most this many (100)");
  c->alerts = root->add_subcommand("alerts", "Overcrowding and loitering alerts");
  c->alerts->add_option("stream", c->stream, "Stream name")->required();
  c->heatmap = root->add_subcommand("heatmap", "Save the presence heatmap (PNG)");
  c->heatmap->add_option("stream", c->stream, "Stream name")->required();
  c->heatmap->add_option("-o,--output", c->output, "File to write")->required();
  c->snapshot = root->add_subcommand("snapshot", "Save the newest frame (JPEG)");
  c->snapshot->add_option("stream", c->stream, "Stream name")->required();
  c->snapshot->add_option("-o,--output", c->output, "File to write")->required();
  c->analyze = root->add_subcommand("analyze", "Analyse a local video here, without a server (prints counts and speed as JSON)");
  c->analyze->add_option("video", c->url, "The video file")->required();
  c->analyze->add_option("--file", c->file, "A stream definition as JSON (lines, zones, detector, tracker)");
  c->analyze->add_option("--line", c->lines, "A counting line name:x1,y1;x2,y2 (repeatable)");
  c->analyze->add_option("--every", c->every, "Detect on every n-th frame, track in between");
  c->analyze->add_option("--scale", c->scale, "Resize frames by this before detection");
  c->analyze->add_option("--tracks-out", c->tracks_out, "Write every frame's tracks here (JSON lines)");
  c->analyze->add_option("--frames", c->max_frames, "Stop after this many frames (0: the whole video)");
  c->worker = root->add_subcommand("worker", "Follow a stream (what its cluster job runs; AIMASS_SERVER, AIMASS_TOKEN, AIMASS_CROWD_RUN)");
  c->worker->add_option("stream", c->stream, "Stream name")->required();
  return c;
}

std::optional<int> RunCrowdWorker(CrowdCommands& c) {
  if (c.analyze->parsed()) {
    json spec = json::object();
    if (!c.file.empty()) {
      auto text = ReadFileOrStdin(c.file);
      if (!text.ok()) return Fail(text.status());
      spec = json::parse(*text, nullptr, false);
      if (!spec.is_object()) return Fail(Status::BadRequest(c.file + " is not a JSON object"));
    }
    for (const auto& l : c.lines) {
      auto line = NamedPoints(l);
      if (!line.ok()) return Fail(line.status());
      spec["lines"].push_back(*line);
    }
    if (c.every != 1) spec["detector"]["every"] = c.every;
    if (c.scale != 1) spec["detector"]["scale"] = c.scale;
    auto r = crowd::AnalyzeFile(c.url, spec, c.tracks_out, static_cast<uint64_t>(std::max<int64_t>(0, c.max_frames)));
    if (!r.ok()) return Fail(r.status());
    std::cout << r->dump() << "\n";
    return 0;
  }
  if (!c.worker->parsed()) return std::nullopt;
  return crowd::RunWorker(c.stream);
}

std::optional<int> RunCrowdCommands(CrowdCommands& c, ApiClient& api, bool as_json) {
  auto call = [&](http::Method m, const std::string& path, const json* body = nullptr) -> Result<json> { return api.Call(m, path, body); };
  auto stream_row = [](const json& s) {
    return std::vector<std::string>{Cell(s, "name"), Cell(s, "state"), NumberCell(s["frames"]), NumberCell(s["processing_fps"]),
                                    NumberCell(s["tracks"]), s.contains("url") ? Cell(s, "url") : "dataset " + Cell(s["dataset"], "name")};
  };
  if (c.streams->parsed()) {
    auto r = call(http::Method::kGet, kBase);
    if (!r.ok()) return Fail(r.status());
    if (as_json) return PrintJson(*r, true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : (*r)["streams"]) rows.push_back(stream_row(s));
    PrintTable({"NAME", "STATE", "FRAMES", "FPS", "TRACKS", "SOURCE"}, rows);
    return 0;
  }
  if (c.create->parsed()) {
    json body = json::object();
    if (!c.file.empty()) {
      auto text = ReadFileOrStdin(c.file);
      if (!text.ok()) return Fail(text.status());
      body = json::parse(*text, nullptr, false);
      if (!body.is_object()) return Fail(Status::BadRequest(c.file + " is not a JSON object"));
    }
    body["name"] = c.stream;
    if (!c.url.empty()) body["url"] = c.url;
    if (!c.dataset.empty()) body["dataset"] = {{"name", c.dataset}, {"version", c.version.empty() ? "latest" : c.version}};
    if (c.fps > 0) body["fps"] = c.fps;
    if (c.realtime) body["realtime"] = true;
    json& det = body["detector"];
    if (!det.is_object()) det = json::object();
    if (!c.detector.empty()) det["kind"] = c.detector;
    if (!c.deployment.empty()) det["deployment"] = c.deployment;
    if (c.every != 1) det["every"] = c.every;
    if (c.scale != 1) det["scale"] = c.scale;
    for (const auto& l : c.lines) {
      auto line = NamedPoints(l);
      if (!line.ok()) return Fail(line.status());
      body["lines"].push_back(*line);
    }
    for (const auto& z : c.zones) {
      auto zone = NamedPoints(z);
      if (!zone.ok()) return Fail(zone.status());
      body["zones"].push_back(*zone);
    }
    auto r = call(http::Method::kPost, kBase, &body);
    if (!r.ok()) return Fail(r.status());
    if (as_json) return PrintJson(*r, true);
    std::cout << "Started stream " << c.stream << " (" << Cell(*r, "state") << ")\n";
    return 0;
  }
  if (c.show->parsed() || c.pause->parsed() || c.resume->parsed()) {
    const bool show = c.show->parsed();
    auto r = show ? call(http::Method::kGet, StreamPath(c.stream))
                  : call(http::Method::kPost, StreamPath(c.stream) + (c.pause->parsed() ? "/pause" : "/resume"), nullptr);
    if (!r.ok()) return Fail(r.status());
    if (as_json || show) return PrintJson(*r, true);
    std::cout << "Stream " << c.stream << " is " << Cell(*r, "state") << "\n";
    return 0;
  }
  if (c.del->parsed()) {
    auto r = call(http::Method::kDelete, StreamPath(c.stream));
    if (!r.ok()) return Fail(r.status());
    std::cout << "Deleted stream " << c.stream << "\n";
    return 0;
  }
  if (c.line->parsed() || c.zone->parsed()) {
    const bool line = c.line->parsed();
    const std::string kind = line ? "lines" : "zones";
    if (c.remove) {
      auto r = call(http::Method::kDelete, StreamPath(c.stream) + "/" + kind + "/" + UrlEncode(c.name));
      if (!r.ok()) return Fail(r.status());
      std::cout << "Removed " << (line ? "line " : "zone ") << c.name << "\n";
      return 0;
    }
    auto pts = ParsePoints(c.points);
    if (!pts.ok()) return Fail(pts.status());
    json body = {{"name", c.name}, {"points", *pts}};
    if (!line) {
      body["max_occupancy"] = c.max_occupancy;
      body["loiter_s"] = c.loiter_s;
    }
    auto r = call(http::Method::kPost, StreamPath(c.stream) + "/" + kind, &body);
    if (!r.ok()) return Fail(r.status());
    if (as_json) return PrintJson(*r, true);
    std::cout << "Saved " << (line ? "line " : "zone ") << c.name << " (revision " << NumberCell((*r)["revision"]) << ")\n";
    return 0;
  }
  if (c.counts->parsed()) {
    std::string q = "?interval=" + UrlEncode(c.interval);
    if (!c.from.empty()) q += "&from=" + UrlEncode(c.from);
    if (!c.to.empty()) q += "&to=" + UrlEncode(c.to);
    auto r = call(http::Method::kGet, StreamPath(c.stream) + "/counts" + q);
    if (!r.ok()) return Fail(r.status());
    if (as_json) return PrintJson(*r, true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, v] : (*r)["lines"].items()) rows.push_back({"line", name, NumberCell(v["in"]), NumberCell(v["out"]), "", "", ""});
    for (const auto& [name, v] : (*r)["zones"].items()) {
      rows.push_back({"zone", name, "", "", NumberCell(v["max"]), NumberCell(v["avg"]), NumberCell(v["visits"])});
    }
    PrintTable({"KIND", "NAME", "IN", "OUT", "MAX", "AVG", "VISITS"}, rows);
    std::cout << Cell(*r, "state") << ", " << NumberCell((*r)["frames"]) << " frames\n";
    return 0;
  }
  if (c.tracks->parsed()) {
    auto r = call(http::Method::kGet, StreamPath(c.stream) + "/tracks?path=false&limit=" + std::to_string(c.limit));
    if (!r.ok()) return Fail(r.status());
    if (as_json) return PrintJson(*r, true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : (*r)["tracks"]) {
      std::string crossed;
      for (const auto& x : t["crossings"]) crossed += (crossed.empty() ? "" : " ") + Cell(x, "line") + ":" + Cell(x, "direction");
      rows.push_back({NumberCell(t["id"]), Cell(t, "start"), NumberCell(t["duration_s"]), crossed});
    }
    PrintTable({"ID", "START", "SECONDS", "CROSSED"}, rows);
    return 0;
  }
  if (c.alerts->parsed()) {
    auto r = call(http::Method::kGet, StreamPath(c.stream) + "/alerts");
    if (!r.ok()) return Fail(r.status());
    if (as_json) return PrintJson(*r, true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : (*r)["alerts"]) {
      rows.push_back({Cell(a, "at"), Cell(a, "kind"), Cell(a, "zone"),
                      a.contains("track") ? "track " + NumberCell(a["track"]) + ", " + NumberCell(a["dwell_s"]) + " s"
                                          : NumberCell(a["occupancy"]) + " people"});
    }
    PrintTable({"AT", "KIND", "ZONE", "DETAIL"}, rows);
    return 0;
  }
  if (c.heatmap->parsed()) return SaveBytes(api, StreamPath(c.stream) + "/heatmap.png", c.output);
  if (c.snapshot->parsed()) return SaveBytes(api, StreamPath(c.stream) + "/snapshot.jpg", c.output);
  return std::nullopt;
}

}  // namespace aimass::cli
