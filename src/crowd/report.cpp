#include "crowd/report.hpp"

#include <cmath>

#include "common/name.hpp"

namespace aimass::crowd {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxItems = 200000;
constexpr size_t kMaxPath = 5000;
constexpr int64_t kMaxCells = 16 << 20;

const char* DirectionName(mot::Direction d) { return d == mot::Direction::kIn ? "in" : "out"; }

json CrossingJson(const mot::LineEvent& c) {
  return {{"line", c.line}, {"track", c.track}, {"direction", DirectionName(c.direction)}, {"frame", c.frame}, {"time_ms", c.time_ms}};
}

Result<const json*> Member(const json& j, const char* key, json::value_t type, const std::string& what, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::BadRequest(what + "." + key + " is required");
    return static_cast<const json*>(nullptr);
  }
  const bool ok = type == json::value_t::number_integer ? it->is_number_integer()
                  : type == json::value_t::number_float ? it->is_number()
                                                        : it->type() == type;
  if (!ok) return Status::BadRequest(what + "." + key + " has the wrong type");
  return &*it;
}

Result<int64_t> Int(const json& j, const char* key, const std::string& what, int64_t lo, int64_t hi, bool required = true) {
  AIMASS_ASSIGN_OR_RETURN(const json* v, Member(j, key, json::value_t::number_integer, what, required));
  if (!v) return lo > 0 ? lo : 0;
  const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? hi + 1 : v->get<int64_t>();
  if (x < lo || x > hi) return Status::BadRequest(what + "." + key + " is out of range");
  return x;
}

Result<double> Real(const json& j, const char* key, const std::string& what, double lo, double hi) {
  AIMASS_ASSIGN_OR_RETURN(const json* v, Member(j, key, json::value_t::number_float, what, false));
  if (!v) return 0.0;
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) return Status::BadRequest(what + "." + key + " is out of range");
  return x;
}

Result<std::string> Str(const json& j, const char* key, const std::string& what, size_t max, bool required = true) {
  AIMASS_ASSIGN_OR_RETURN(const json* v, Member(j, key, json::value_t::string, what, required));
  if (!v) return std::string();
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() > max) return Status::BadRequest(what + "." + key + " is too long");
  return s;
}

Result<const json*> List(const json& j, const char* key, const std::string& what, size_t max) {
  AIMASS_ASSIGN_OR_RETURN(const json* v, Member(j, key, json::value_t::array, what, false));
  if (v && v->size() > max) return Status::TooLarge(what + "." + key + " has too many items");
  return v;
}

constexpr int64_t kMaxMs = int64_t{1} << 50, kMaxFrame = int64_t{1} << 50;

}  // namespace

json EncodeReport(const WorkerState& w, const mot::FlowReport& r, const json& now) {
  json j = {{"run", w.run},         {"from_frame", w.from_frame}, {"to_frame", w.to_frame}, {"next_track", w.next_track},
            {"state", w.state},     {"error", w.error},           {"width", w.width},       {"height", w.height},
            {"video_fps", w.video_fps}, {"fps", w.fps},           {"now", now}};
  json tallies = json::array();
  for (const auto& [second, counters] : r.buckets) {
    for (const auto& [key, t] : counters) {
      tallies.push_back({second, key.kind, key.name, t.in, t.out, t.occupancy_max, t.occupancy_sum, t.frames});
    }
  }
  j["tallies"] = std::move(tallies);
  json tracks = json::array();
  for (const auto& t : r.tracks) {
    json path = json::array();
    for (const auto& p : t.path) path.push_back({static_cast<int64_t>(p[0]), std::round(p[1] * 10) / 10, std::round(p[2] * 10) / 10});
    json crossings = json::array();
    for (const auto& c : t.crossings) crossings.push_back(CrossingJson(c));
    tracks.push_back({{"id", t.id}, {"first_frame", t.first_frame}, {"last_frame", t.last_frame}, {"first_ms", t.first_ms},
                      {"last_ms", t.last_ms}, {"path", std::move(path)}, {"crossings", std::move(crossings)}});
  }
  j["tracks"] = std::move(tracks);
  json visits = json::array();
  for (const auto& v : r.visits) visits.push_back({{"zone", v.zone}, {"track", v.track}, {"enter_ms", v.enter_ms}, {"exit_ms", v.exit_ms}});
  j["visits"] = std::move(visits);
  json alerts = json::array();
  for (const auto& a : r.alerts) {
    alerts.push_back({{"kind", a.kind}, {"zone", a.zone}, {"track", a.track}, {"frame", a.frame}, {"time_ms", a.time_ms},
                      {"occupancy", a.occupancy}, {"dwell_s", a.dwell_s}});
  }
  j["alerts"] = std::move(alerts);
  json cells = json::array();
  for (const auto& [cell, n] : r.heat) cells.push_back({cell, n});
  j["heat"] = {{"width", r.grid_width}, {"height", r.grid_height}, {"cells", std::move(cells)}};
  return j;
}

Result<Report> ParseReport(const json& j) {
  if (!j.is_object()) return Status::BadRequest("a report is a JSON object");
  const std::string w = "report";
  Report r;
  AIMASS_ASSIGN_OR_RETURN(r.run, Int(j, "run", w, 0, kMaxFrame));
  AIMASS_ASSIGN_OR_RETURN(r.from_frame, Int(j, "from_frame", w, 0, kMaxFrame));
  AIMASS_ASSIGN_OR_RETURN(r.to_frame, Int(j, "to_frame", w, 0, kMaxFrame));
  if (r.to_frame < r.from_frame) return Status::BadRequest("report.to_frame is before from_frame");
  AIMASS_ASSIGN_OR_RETURN(r.next_track, Int(j, "next_track", w, 0, kMaxFrame, false));
  AIMASS_ASSIGN_OR_RETURN(r.state, Str(j, "state", w, 32));
  if (r.state != "running" && r.state != "reconnecting" && r.state != "finished" && r.state != "failed") {
    return Status::BadRequest("report.state is running, reconnecting, finished or failed");
  }
  AIMASS_ASSIGN_OR_RETURN(r.error, Str(j, "error", w, 4096, false));
  AIMASS_ASSIGN_OR_RETURN(r.width, Int(j, "width", w, 0, 65536, false));
  AIMASS_ASSIGN_OR_RETURN(r.height, Int(j, "height", w, 0, 65536, false));
  AIMASS_ASSIGN_OR_RETURN(r.video_fps, Real(j, "video_fps", w, 0, 100000));
  AIMASS_ASSIGN_OR_RETURN(r.fps, Real(j, "fps", w, 0, 1e9));

  AIMASS_ASSIGN_OR_RETURN(const json* tallies, List(j, "tallies", w, kMaxItems));
  if (tallies) {
    for (const auto& t : *tallies) {
      if (!t.is_array() || t.size() != 8 || !t[0].is_number_integer() || !t[1].is_string() || !t[2].is_string()) {
        return Status::BadRequest("a tally is [second, kind, name, in, out, occupancy_max, occupancy_sum, frames]");
      }
      TallyRow row;
      row.second = t[0].get<int64_t>();
      row.key = {t[1].get<std::string>(), t[2].get<std::string>()};
      if (row.key.kind != "line" && row.key.kind != "zone" && row.key.kind != "people") return Status::BadRequest("a tally's kind is line, zone or people");
      if (row.key.name.size() > 64) return Status::BadRequest("a tally's name is too long");
      int64_t v[5];
      for (int k = 0; k < 5; ++k) {
        const json& x = t[static_cast<size_t>(3 + k)];
        if (!x.is_number_unsigned() && !(x.is_number_integer() && x.get<int64_t>() >= 0)) return Status::BadRequest("a tally's counts are whole numbers >= 0");
        v[k] = x.get<int64_t>();
        if (v[k] < 0 || v[k] > kMaxFrame) return Status::BadRequest("a tally's count is out of range");
      }
      row.tally = {static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1]), static_cast<int>(std::min<int64_t>(v[2], 1 << 30)),
                   static_cast<uint64_t>(v[3]), static_cast<uint64_t>(v[4])};
      if (row.second < -kMaxMs / 1000 || row.second > kMaxMs / 1000) return Status::BadRequest("a tally's second is out of range");
      r.tallies.push_back(std::move(row));
    }
  }
  AIMASS_ASSIGN_OR_RETURN(const json* tracks, List(j, "tracks", w, kMaxItems / 10));
  if (tracks) {
    for (const auto& t : *tracks) {
      if (!t.is_object()) return Status::BadRequest("a track is an object");
      const std::string tw = "track";
      TrackRow row;
      AIMASS_ASSIGN_OR_RETURN(row.id, Int(t, "id", tw, 1, kMaxFrame));
      AIMASS_ASSIGN_OR_RETURN(row.first_frame, Int(t, "first_frame", tw, 0, kMaxFrame));
      AIMASS_ASSIGN_OR_RETURN(row.last_frame, Int(t, "last_frame", tw, 0, kMaxFrame));
      AIMASS_ASSIGN_OR_RETURN(row.first_ms, Int(t, "first_ms", tw, -kMaxMs, kMaxMs));
      AIMASS_ASSIGN_OR_RETURN(row.last_ms, Int(t, "last_ms", tw, -kMaxMs, kMaxMs));
      AIMASS_ASSIGN_OR_RETURN(const json* path, List(t, "path", tw, kMaxPath));
      AIMASS_ASSIGN_OR_RETURN(const json* crossings, List(t, "crossings", tw, 1000));
      json body = {{"path", json::array()}, {"crossings", json::array()}};
      if (path) {
        for (const auto& p : *path) {
          if (!p.is_array() || p.size() != 3 || !p[0].is_number() || !p[1].is_number() || !p[2].is_number() ||
              !std::isfinite(p[1].get<double>()) || !std::isfinite(p[2].get<double>())) {
            return Status::BadRequest("a path point is [frame, x, y]");
          }
          body["path"].push_back(p);
        }
      }
      if (crossings) {
        for (const auto& c : *crossings) {
          if (!c.is_object()) return Status::BadRequest("a crossing is an object");
          AIMASS_ASSIGN_OR_RETURN(std::string line, Str(c, "line", "crossing", 64));
          AIMASS_ASSIGN_OR_RETURN(std::string dir, Str(c, "direction", "crossing", 8));
          if (dir != "in" && dir != "out") return Status::BadRequest("a crossing's direction is in or out");
          AIMASS_ASSIGN_OR_RETURN(int64_t frame, Int(c, "frame", "crossing", 0, kMaxFrame));
          AIMASS_ASSIGN_OR_RETURN(int64_t at, Int(c, "time_ms", "crossing", -kMaxMs, kMaxMs));
          body["crossings"].push_back({{"line", line}, {"direction", dir}, {"frame", frame}, {"time_ms", at}});
        }
      }
      row.body = body.dump();
      r.tracks.push_back(std::move(row));
    }
  }
  AIMASS_ASSIGN_OR_RETURN(const json* visits, List(j, "visits", w, kMaxItems));
  if (visits) {
    for (const auto& v : *visits) {
      if (!v.is_object()) return Status::BadRequest("a visit is an object");
      mot::ZoneVisit z;
      AIMASS_ASSIGN_OR_RETURN(z.zone, Str(v, "zone", "visit", 64));
      AIMASS_ASSIGN_OR_RETURN(int64_t track, Int(v, "track", "visit", 0, kMaxFrame));
      z.track = static_cast<uint64_t>(track);
      AIMASS_ASSIGN_OR_RETURN(z.enter_ms, Int(v, "enter_ms", "visit", -kMaxMs, kMaxMs));
      AIMASS_ASSIGN_OR_RETURN(z.exit_ms, Int(v, "exit_ms", "visit", -kMaxMs, kMaxMs));
      r.visits.push_back(std::move(z));
    }
  }
  AIMASS_ASSIGN_OR_RETURN(const json* alerts, List(j, "alerts", w, 10000));
  if (alerts) {
    for (const auto& a : *alerts) {
      if (!a.is_object()) return Status::BadRequest("an alert is an object");
      AlertRow row;
      AIMASS_ASSIGN_OR_RETURN(row.kind, Str(a, "kind", "alert", 32));
      if (row.kind != "overcrowding" && row.kind != "loitering") return Status::BadRequest("an alert's kind is overcrowding or loitering");
      AIMASS_ASSIGN_OR_RETURN(row.zone, Str(a, "zone", "alert", 64));
      AIMASS_ASSIGN_OR_RETURN(row.track, Int(a, "track", "alert", 0, kMaxFrame));
      AIMASS_ASSIGN_OR_RETURN(row.frame, Int(a, "frame", "alert", 0, kMaxFrame));
      AIMASS_ASSIGN_OR_RETURN(row.at_ms, Int(a, "time_ms", "alert", -kMaxMs, kMaxMs));
      AIMASS_ASSIGN_OR_RETURN(row.occupancy, Int(a, "occupancy", "alert", 0, kMaxFrame, false));
      AIMASS_ASSIGN_OR_RETURN(row.dwell_s, Real(a, "dwell_s", "alert", 0, 1e12));
      r.alerts.push_back(std::move(row));
    }
  }
  AIMASS_ASSIGN_OR_RETURN(const json* heat, Member(j, "heat", json::value_t::object, w, false));
  if (heat) {
    AIMASS_ASSIGN_OR_RETURN(r.grid_width, Int(*heat, "width", "heat", 0, 65536));
    AIMASS_ASSIGN_OR_RETURN(r.grid_height, Int(*heat, "height", "heat", 0, 65536));
    if (r.grid_width * r.grid_height > kMaxCells) return Status::BadRequest("heat grid is too large");
    AIMASS_ASSIGN_OR_RETURN(const json* cells, List(*heat, "cells", "heat", kMaxItems));
    if (cells) {
      for (const auto& c : *cells) {
        if (!c.is_array() || c.size() != 2 || !c[0].is_number_unsigned() || !c[1].is_number_unsigned()) {
          return Status::BadRequest("a heat cell is [index, count]");
        }
        const uint64_t i = c[0].get<uint64_t>(), n = c[1].get<uint64_t>();
        if (i >= static_cast<uint64_t>(r.grid_width * r.grid_height) || n > (1u << 30)) return Status::BadRequest("a heat cell is out of the grid");
        r.heat.emplace_back(static_cast<uint32_t>(i), static_cast<uint32_t>(n));
      }
    }
  }
  return r;
}

}  // namespace aimass::crowd
