#include "crowd/stream_spec.hpp"

#include <cmath>
#include <set>

#include "common/name.hpp"
#include "common/time.hpp"

namespace aimass::crowd {

using json = nlohmann::json;

namespace {

constexpr double kMaxCoordinate = 100000;

Status CheckKeys(const json& j, std::initializer_list<const char*> known, const std::string& what) {
  for (const auto& [k, v] : j.items()) {
    bool ok = false;
    for (const char* n : known) ok = ok || k == n;
    if (!ok) return Status::BadRequest(what + ": unknown field '" + k.substr(0, 64) + "'");
  }
  return Status::Ok();
}

Result<double> Number(const json& j, const char* key, double fallback, double lo, double hi, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) return Status::BadRequest(what + "." + key + " must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return Status::BadRequest(what + "." + key + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return v;
}

Result<int> Whole(const json& j, const char* key, int fallback, int lo, int hi, const std::string& what) {
  AIMASS_ASSIGN_OR_RETURN(double v, Number(j, key, fallback, lo, hi, what));
  if (v != std::floor(v)) return Status::BadRequest(what + "." + key + " must be a whole number");
  return static_cast<int>(v);
}

Result<std::string> Text(const json& j, const char* key, const std::string& what) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Status::BadRequest(what + "." + key + " must be a string");
  return it->get<std::string>();
}

Result<std::vector<mot::Point>> Points(const json& j, const std::string& what, size_t min, size_t max) {
  if (!j.is_array() || j.size() < min || j.size() > max) {
    return Status::BadRequest(what + " must be a list of " + std::to_string(min) + (min == max ? "" : " to " + std::to_string(max)) +
                              " points [x, y]");
  }
  std::vector<mot::Point> out;
  for (const auto& p : j) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number()) {
      return Status::BadRequest(what + ": a point is [x, y] in the video's pixels");
    }
    const double x = p[0].get<double>(), y = p[1].get<double>();
    if (!std::isfinite(x) || !std::isfinite(y) || std::fabs(x) > kMaxCoordinate || std::fabs(y) > kMaxCoordinate) {
      return Status::BadRequest(what + ": coordinates must be finite pixels");
    }
    out.push_back({x, y});
  }
  return out;
}

json PointsJson(const std::vector<mot::Point>& pts) {
  json a = json::array();
  for (const auto& p : pts) a.push_back({p.x, p.y});
  return a;
}

}  // namespace

Result<mot::CountingLine> ParseLine(const json& j) {
  if (!j.is_object()) return Status::BadRequest("a line is {\"name\", \"points\": [[x1, y1], [x2, y2]]}");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"name", "points"}, "the line"));
  mot::CountingLine l;
  AIMASS_ASSIGN_OR_RETURN(l.name, Text(j, "name", "line"));
  AIMASS_RETURN_IF_ERROR(ValidateName("line name", l.name, 64));
  auto pts = j.find("points");
  if (pts == j.end()) return Status::BadRequest("line '" + l.name + "' needs points [[x1, y1], [x2, y2]]");
  AIMASS_ASSIGN_OR_RETURN(auto p, Points(*pts, "line '" + l.name + "' points", 2, 2));
  if (p[0].x == p[1].x && p[0].y == p[1].y) return Status::BadRequest("line '" + l.name + "' has two equal points");
  l.a = p[0];
  l.b = p[1];
  return l;
}

Result<mot::Zone> ParseZone(const json& j) {
  if (!j.is_object()) return Status::BadRequest("a zone is {\"name\", \"points\": [[x, y], …], \"max_occupancy\", \"loiter_s\"}");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"name", "points", "max_occupancy", "loiter_s"}, "the zone"));
  mot::Zone z;
  AIMASS_ASSIGN_OR_RETURN(z.name, Text(j, "name", "zone"));
  AIMASS_RETURN_IF_ERROR(ValidateName("zone name", z.name, 64));
  auto pts = j.find("points");
  if (pts == j.end()) return Status::BadRequest("zone '" + z.name + "' needs points (a polygon of 3 or more)");
  AIMASS_ASSIGN_OR_RETURN(z.polygon, Points(*pts, "zone '" + z.name + "' points", 3, 256));
  AIMASS_ASSIGN_OR_RETURN(z.max_occupancy, Whole(j, "max_occupancy", 0, 0, 1000000, "zone"));
  AIMASS_ASSIGN_OR_RETURN(z.loiter_s, Number(j, "loiter_s", 0, 0, 86400 * 7, "zone"));
  return z;
}

json ToJson(const mot::CountingLine& l) { return {{"name", l.name}, {"points", PointsJson({l.a, l.b})}}; }

json ToJson(const mot::Zone& z) {
  return {{"name", z.name}, {"points", PointsJson(z.polygon)}, {"max_occupancy", z.max_occupancy}, {"loiter_s", z.loiter_s}};
}

Result<StreamSpec> ParseStreamSpec(const json& j) {
  if (!j.is_object()) return Status::BadRequest("a stream is a JSON object: {\"name\", \"url\" or \"dataset\", …}");
  AIMASS_RETURN_IF_ERROR(CheckKeys(j, {"name", "url", "dataset", "version", "fps", "realtime", "roi", "detector", "tracker",
                                       "lines", "zones", "live_fps", "start"},
                                   "the stream"));
  StreamSpec s;
  AIMASS_ASSIGN_OR_RETURN(s.name, Text(j, "name", "stream"));
  AIMASS_RETURN_IF_ERROR(ValidateName("stream name", s.name, 64));
  AIMASS_ASSIGN_OR_RETURN(s.url, Text(j, "url", "stream"));
  auto ds = j.find("dataset");
  if (ds != j.end() && !ds->is_null()) {
    if (ds->is_string()) {
      s.dataset = ds->get<std::string>();
    } else if (ds->is_object()) {
      AIMASS_RETURN_IF_ERROR(CheckKeys(*ds, {"name", "version"}, "the stream's dataset"));
      AIMASS_ASSIGN_OR_RETURN(s.dataset, Text(*ds, "name", "dataset"));
      AIMASS_ASSIGN_OR_RETURN(std::string v, Text(*ds, "version", "dataset"));
      if (!v.empty()) s.dataset_version = v;
    } else {
      return Status::BadRequest("stream.dataset is a dataset's name or {\"name\", \"version\"}");
    }
    AIMASS_RETURN_IF_ERROR(ValidateName("dataset name", s.dataset, 128));
  }
  if (j.contains("version") && !j["version"].is_null()) {
    AIMASS_ASSIGN_OR_RETURN(std::string v, Text(j, "version", "stream"));
    if (!v.empty()) s.dataset_version = v;
  }
  if (s.url.empty() == s.dataset.empty()) return Status::BadRequest("a stream takes its frames from a \"url\" or a \"dataset\" (one of them)");
  if (s.dataset_version.empty() || s.dataset_version.size() > 64 || s.dataset_version.find('/') != std::string::npos) {
    return Status::BadRequest("stream.version names a dataset version (a number, alias or latest)");
  }
  if (!s.url.empty()) {
    if (s.url.size() > 2048 || s.url.find('\0') != std::string::npos || s.url.find('\n') != std::string::npos) {
      return Status::BadRequest("stream.url is too long or holds control characters");
    }
    if (s.local_file()) {
      const std::string p = s.path();
      if (p.empty() || p[0] != '/') {
        return Status::BadRequest("stream.url is rtsp://, rtsps://, http://, https://, or an absolute path to a video file");
      }
      if (p.find("/../") != std::string::npos || p.ends_with("/..") || p.find("/./") != std::string::npos) {
        return Status::BadRequest("stream.url may not contain '..' or '.' segments");
      }
    }
  }
  AIMASS_ASSIGN_OR_RETURN(s.fps, Number(j, "fps", 0, 0, 1000, "stream"));
  auto rt = j.find("realtime");
  if (rt != j.end() && !rt->is_null()) {
    if (!rt->is_boolean()) return Status::BadRequest("stream.realtime must be true or false");
    s.realtime = rt->get<bool>();
  }
  auto roi = j.find("roi");
  if (roi != j.end() && !roi->is_null()) {
    AIMASS_ASSIGN_OR_RETURN(s.roi, Points(*roi, "stream.roi", 3, 256));
  }
  AIMASS_ASSIGN_OR_RETURN(s.live_fps, Number(j, "live_fps", 5, 0.1, 30, "stream"));
  auto start = j.find("start");
  if (start != j.end() && !start->is_null()) {
    auto t = start->is_string() ? ParseRfc3339Ms(start->get<std::string>()) : std::nullopt;
    if (!t) return Status::BadRequest("stream.start must be an RFC 3339 time");
    s.start_ms = *t;
  }

  auto det = j.find("detector");
  if (det != j.end() && !det->is_null()) {
    if (!det->is_object()) return Status::BadRequest("stream.detector must be an object");
    AIMASS_RETURN_IF_ERROR(CheckKeys(*det, {"kind", "every", "scale", "min_score", "nms_iou", "hit_threshold", "pyramid", "deployment", "width",
                                            "height", "person_class"},
                                     "the detector"));
    DetectorSpec& d = s.detector;
    AIMASS_ASSIGN_OR_RETURN(std::string kind, Text(*det, "kind", "detector"));
    if (!kind.empty()) d.kind = kind;
    if (d.kind != "hog" && d.kind != "model") return Status::BadRequest("detector.kind is hog or model");
    AIMASS_ASSIGN_OR_RETURN(d.every, Whole(*det, "every", 1, 1, 100, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.scale, Number(*det, "scale", 1, 0.1, 4, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.min_score, Number(*det, "min_score", d.kind == "hog" ? 0.3 : 0.5, -100, 100, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.nms_iou, Number(*det, "nms_iou", 0.45, 0.01, 1, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.hit_threshold, Number(*det, "hit_threshold", 0, -10, 10, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.pyramid, Number(*det, "pyramid", 1.05, 1.01, 2, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.deployment, Text(*det, "deployment", "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.width, Whole(*det, "width", 0, 0, 8192, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.height, Whole(*det, "height", 0, 0, 8192, "detector"));
    AIMASS_ASSIGN_OR_RETURN(d.person_class, Whole(*det, "person_class", 0, 0, 100000, "detector"));
    if (d.kind == "model") {
      if (d.deployment.empty()) return Status::BadRequest("a model detector names its \"deployment\"");
      AIMASS_RETURN_IF_ERROR(ValidateName("deployment name", d.deployment, 128));
    }
  }
  auto tr = j.find("tracker");
  if (tr != j.end() && !tr->is_null()) {
    if (!tr->is_object()) return Status::BadRequest("stream.tracker must be an object");
    AIMASS_RETURN_IF_ERROR(CheckKeys(*tr, {"max_age", "min_hits", "iou", "linger", "reacquire", "rearm"}, "the tracker"));
    AIMASS_ASSIGN_OR_RETURN(s.tracker.max_age, Whole(*tr, "max_age", 5, 0, 1000, "tracker"));
    AIMASS_ASSIGN_OR_RETURN(s.tracker.min_hits, Whole(*tr, "min_hits", 3, 1, 100, "tracker"));
    AIMASS_ASSIGN_OR_RETURN(s.tracker.iou_threshold, Number(*tr, "iou", 0.3, 0.01, 1, "tracker"));
    AIMASS_ASSIGN_OR_RETURN(s.linger, Whole(*tr, "linger", 30, 0, 100000, "tracker"));
    AIMASS_ASSIGN_OR_RETURN(s.tracker.reacquire_distance, Number(*tr, "reacquire", 0.5, 0, 10, "tracker"));
    AIMASS_ASSIGN_OR_RETURN(s.rearm, Number(*tr, "rearm", 0.25, 0, 100, "tracker"));
  }
  std::set<std::string> names;
  auto lines = j.find("lines");
  if (lines != j.end() && !lines->is_null()) {
    if (!lines->is_array() || lines->size() > 64) return Status::BadRequest("stream.lines is a list of at most 64 lines");
    for (const auto& l : *lines) {
      AIMASS_ASSIGN_OR_RETURN(auto line, ParseLine(l));
      if (!names.insert("l:" + line.name).second) return Status::BadRequest("two lines are named '" + line.name + "'");
      s.lines.push_back(std::move(line));
    }
  }
  auto zones = j.find("zones");
  if (zones != j.end() && !zones->is_null()) {
    if (!zones->is_array() || zones->size() > 64) return Status::BadRequest("stream.zones is a list of at most 64 zones");
    for (const auto& z : *zones) {
      AIMASS_ASSIGN_OR_RETURN(auto zone, ParseZone(z));
      if (!names.insert("z:" + zone.name).second) return Status::BadRequest("two zones are named '" + zone.name + "'");
      s.zones.push_back(std::move(zone));
    }
  }
  return s;
}

mot::HogOptions HogOptionsOf(const DetectorSpec& d) {
  mot::HogOptions h;
  h.scale = d.scale;
  h.hit_threshold = d.hit_threshold;
  h.pyramid_scale = d.pyramid;
  h.nms_iou = d.nms_iou;
  h.min_score = d.min_score;
  return h;
}

mot::FlowOptions FlowOptionsOf(const StreamSpec& s) {
  mot::FlowOptions fo;
  fo.detect_every = s.detector.every;
  fo.sort = s.tracker;
  fo.linger = s.linger;
  fo.rearm = s.rearm;
  fo.roi = s.roi;
  return fo;
}

json ToJson(const StreamSpec& s) {
  json j = {{"name", s.name}, {"fps", s.fps}, {"realtime", s.realtime}, {"live_fps", s.live_fps}};
  if (!s.url.empty()) j["url"] = s.url;
  if (!s.dataset.empty()) j["dataset"] = {{"name", s.dataset}, {"version", s.dataset_version}};
  if (!s.roi.empty()) j["roi"] = PointsJson(s.roi);
  const DetectorSpec& d = s.detector;
  json det = {{"kind", d.kind}, {"every", d.every}, {"scale", d.scale}, {"min_score", d.min_score}, {"nms_iou", d.nms_iou}};
  if (d.kind == "hog") {
    det["hit_threshold"] = d.hit_threshold;
    det["pyramid"] = d.pyramid;
  }
  if (d.kind == "model") {
    det["deployment"] = d.deployment;
    det["width"] = d.width;
    det["height"] = d.height;
    det["person_class"] = d.person_class;
  }
  j["detector"] = det;
  j["tracker"] = {{"max_age", s.tracker.max_age}, {"min_hits", s.tracker.min_hits}, {"iou", s.tracker.iou_threshold}, {"linger", s.linger},
                  {"reacquire", s.tracker.reacquire_distance}, {"rearm", s.rearm}};
  j["lines"] = json::array();
  for (const auto& l : s.lines) j["lines"].push_back(ToJson(l));
  j["zones"] = json::array();
  for (const auto& z : s.zones) j["zones"].push_back(ToJson(z));
  if (s.start_ms) j["start"] = Rfc3339Ms(*s.start_ms);
  return j;
}

}  // namespace aimass::crowd
