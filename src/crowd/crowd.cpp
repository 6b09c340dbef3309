#include "crowd/crowd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>
#include <set>

#include <spdlog/spdlog.h>

#include "common/failpoint.hpp"
#include "common/file.hpp"
#include "common/name.hpp"
#include "common/time.hpp"
#include "crowd/report.hpp"
#include "cube/cube.hpp"
#include "mot/frame_image.hpp"

namespace aimass::crowd {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kTokenTtlS = 30 * 86400;
constexpr int64_t kMaxIntervals = 100000;
constexpr int64_t kPauseGraceMs = 10000;  // a paused stream's worker stops by itself before this

std::string DatasetName(const std::string& stream) { return "crowd-" + stream; }

// 1s, 10s, 1m, 5m, 1h, 1d, or a number of seconds.
Result<int64_t> IntervalSeconds(const std::string& text) {
  if (text.empty()) return 60;
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (...) {
    return Status::BadRequest("interval is a number of seconds or 10s, 1m, 1h, 1d");
  }
  const std::string unit = text.substr(used);
  int64_t mult = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (mult == 0 || n <= 0 || n > 366 * 86400 / mult) return Status::BadRequest("interval is a number of seconds or 10s, 1m, 1h, 1d (up to a year)");
  return n * mult;
}

Result<int64_t> TimeParam(const std::string& text, const char* what, int64_t fallback_ms) {
  if (text.empty()) return fallback_ms;
  auto t = ParseRfc3339Ms(text);
  if (!t) return Status::BadRequest(std::string(what) + " must be an RFC 3339 time");
  return *t;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

bool UnderDir(const std::string& path, const std::vector<std::string>& dirs) {
  std::error_code ec;
  const std::string real = fs::canonical(path, ec).string();
  if (ec) return false;
  for (const auto& d : dirs) {
    const std::string root = fs::weakly_canonical(d, ec).string();
    if (ec || root.empty()) continue;
    if (real.size() > root.size() && real.compare(0, root.size(), root) == 0 && (root.back() == '/' || real[root.size()] == '/')) return true;
  }
  return false;
}

}  // namespace

CrowdService::CrowdService(storage::Db& db, CrowdOptions options) : o_(std::move(options)), store_(db) {}

CrowdService::~CrowdService() { Stop(); }

Status CrowdService::Open() {
  std::error_code ec;
  fs::create_directories(o_.dir, ec);
  if (ec) return Status::Internal("cannot create " + o_.dir + ": " + ec.message());
  return Status::Ok();
}

void CrowdService::Start() {
  if (!o_.run_supervisor || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void CrowdService::Stop() {
  stopping_ = true;
  {
    std::lock_guard lock(wake_mu_);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CrowdService::Loop() {
  while (!stopping_) {
    Supervise();
    std::unique_lock lock(wake_mu_);
    wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
  }
}

Result<StreamRow> CrowdService::Row(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(ValidateName("stream name", name, 64));
  return store_.Get(name);
}

json CrowdService::StreamJson(const StreamRow& s) {
  json j = json::parse(s.spec, nullptr, false);
  if (!j.is_object()) j = json::object();
  j["owner"] = s.owner;
  j["state"] = s.state;
  j["desired"] = s.desired;
  j["error"] = s.error;
  j["frames"] = s.frames;
  j["width"] = s.width;
  j["height"] = s.height;
  j["video_fps"] = s.video_fps;
  j["processing_fps"] = std::round(s.fps * 10) / 10;
  j["tracks"] = s.next_track - 1;
  j["job"] = s.job_id > 0 ? json(s.job_id) : json(nullptr);
  j["run"] = s.run;
  j["restarts"] = s.restarts;
  j["revision"] = s.revision;
  j["counts_dataset"] = DatasetName(s.name);
  j["first_frame_at"] = Rfc3339Ms(s.t0_ms);
  j["created_at"] = Rfc3339Ms(s.created_ms);
  j["updated_at"] = Rfc3339Ms(s.updated_ms);
  j["reported_at"] = s.reported_ms > 0 ? json(Rfc3339Ms(s.reported_ms)) : json(nullptr);
  return j;
}

Status CrowdService::CheckSource(const StreamSpec& spec, const Principal& who) {
  if (!spec.dataset.empty()) {
    if (!auth::Allows(who.permissions, "datasets:read")) return Status::Forbidden("reading dataset '" + spec.dataset + "' needs datasets:read");
    AIMASS_ASSIGN_OR_RETURN(auto d, o_.datasets->Get(spec.dataset));
    if (d.kind != datasets::DatasetKind::kFiles) {
      return Status::BadRequest("dataset '" + spec.dataset + "' is a table; a stream reads a files dataset (a video, or images)");
    }
    return o_.datasets->Resolve(spec.dataset, spec.dataset_version).status();
  }
  if (spec.local_file()) {
    const std::string p = spec.path();
    if (!UnderDir(p, o_.video_dirs)) {
      // One answer whether the file is missing or outside: the API does not probe the disk.
      return Status::BadRequest("stream.url '" + p.substr(0, 256) + "' is not a video file under the directories crowd.video_dirs allows");
    }
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) return Status::BadRequest("stream.url '" + p.substr(0, 256) + "' is not a regular file");
  }
  return Status::Ok();
}

Result<json> CrowdService::Create(const json& body, const Principal& who) {
  AIMASS_ASSIGN_OR_RETURN(StreamSpec spec, ParseStreamSpec(body));
  AIMASS_RETURN_IF_ERROR(CheckSource(spec, who));
  const int64_t now = UnixNowMs();
  StreamRow s;
  s.name = spec.name;
  s.owner = who.username;
  s.spec = ToJson(spec).dump();
  s.t0_ms = spec.start_ms.value_or(now);
  s.created_ms = s.updated_ms = now;
  AIMASS_RETURN_IF_ERROR(store_.Create(s));
  wake_.notify_all();
  AIMASS_ASSIGN_OR_RETURN(StreamRow row, store_.Get(s.name));
  return StreamJson(row);
}

Result<json> CrowdService::List() {
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.List());
  json out = json::array();
  for (const auto& s : rows) out.push_back(StreamJson(s));
  return json{{"streams", out}};
}

Result<json> CrowdService::Get(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  return StreamJson(s);
}

Status CrowdService::Delete(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  if (s.job_id > 0) {
    auto job = o_.cluster->Get(s.job_id);
    if (job.ok() && !cluster::Finished(job->state)) (void)o_.cluster->Cancel(s.job_id);
  }
  AIMASS_RETURN_IF_ERROR(store_.Delete(name));
  std::error_code ec;
  fs::remove(o_.dir + "/" + name + ".jpg", ec);
  live_.Forget(name);
  std::lock_guard lock(mu_);
  now_.erase(name);
  exported_at_ms_.erase(name);
  return Status::Ok();
}

Result<json> CrowdService::Pause(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  if (s.state == "finished") return Status::Conflict("stream '" + name + "' has finished (its video ended)");
  s.desired = "paused";
  s.state = "paused";
  s.updated_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.Update(s));
  {
    std::lock_guard lock(mu_);
    exported_at_ms_[name] = 0;
  }
  // The worker learns it at its next report (within a second), reports the tracks it follows
  // and stops; one that does not is cancelled by the supervisor (kPauseGraceMs).
  return StreamJson(s);
}

Result<json> CrowdService::Resume(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  if (s.state == "finished") return Status::Conflict("stream '" + name + "' has finished (its video ended)");
  if (s.desired == "running" && s.state != "failed") return StreamJson(s);
  s.desired = "running";
  s.state = "starting";
  s.error.clear();
  s.updated_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.Update(s));
  AIMASS_RETURN_IF_ERROR(store_.SetRun(name, s.run, 0, "starting"));
  wake_.notify_all();
  return StreamJson(s);
}

Result<json> CrowdService::ChangeSpec(const std::string& name, const std::function<Status(StreamSpec&)>& change) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  AIMASS_ASSIGN_OR_RETURN(StreamSpec spec, ParseStreamSpec(json::parse(s.spec)));
  AIMASS_RETURN_IF_ERROR(change(spec));
  s.spec = ToJson(spec).dump();
  ++s.revision;
  s.updated_ms = UnixNowMs();
  AIMASS_RETURN_IF_ERROR(store_.Update(s));
  return StreamJson(s);
}

Result<json> CrowdService::PutLine(const std::string& name, const json& body, bool* created) {
  AIMASS_ASSIGN_OR_RETURN(mot::CountingLine line, ParseLine(body));
  return ChangeSpec(name, [&](StreamSpec& spec) -> Status {
    auto it = std::find_if(spec.lines.begin(), spec.lines.end(), [&](const auto& l) { return l.name == line.name; });
    *created = it == spec.lines.end();
    if (*created) {
      if (spec.lines.size() >= 64) return Status::BadRequest("a stream has at most 64 lines");
      spec.lines.push_back(line);
    } else {
      *it = line;
    }
    return Status::Ok();
  });
}

Result<json> CrowdService::PutZone(const std::string& name, const json& body, bool* created) {
  AIMASS_ASSIGN_OR_RETURN(mot::Zone zone, ParseZone(body));
  return ChangeSpec(name, [&](StreamSpec& spec) -> Status {
    auto it = std::find_if(spec.zones.begin(), spec.zones.end(), [&](const auto& z) { return z.name == zone.name; });
    *created = it == spec.zones.end();
    if (*created) {
      if (spec.zones.size() >= 64) return Status::BadRequest("a stream has at most 64 zones");
      spec.zones.push_back(zone);
    } else {
      *it = zone;
    }
    return Status::Ok();
  });
}

Status CrowdService::DeleteLine(const std::string& name, const std::string& line) {
  return ChangeSpec(name, [&](StreamSpec& spec) -> Status {
           const size_t n = std::erase_if(spec.lines, [&](const auto& l) { return l.name == line; });
           return n ? Status::Ok() : Status::NotFound("stream '" + name + "' has no line '" + line.substr(0, 64) + "'");
         })
      .status();
}

Status CrowdService::DeleteZone(const std::string& name, const std::string& zone) {
  return ChangeSpec(name, [&](StreamSpec& spec) -> Status {
           const size_t n = std::erase_if(spec.zones, [&](const auto& z) { return z.name == zone; });
           return n ? Status::Ok() : Status::NotFound("stream '" + name + "' has no zone '" + zone.substr(0, 64) + "'");
         })
      .status();
}

Result<json> CrowdService::Counts(const std::string& name, const std::string& from, const std::string& to, const std::string& interval) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  AIMASS_ASSIGN_OR_RETURN(int64_t step, IntervalSeconds(interval));
  AIMASS_ASSIGN_OR_RETURN(int64_t from_ms, TimeParam(from, "from", INT64_MIN / 2));
  AIMASS_ASSIGN_OR_RETURN(int64_t to_ms, TimeParam(to, "to", INT64_MAX / 2));
  if (to_ms <= from_ms) return Status::BadRequest("to must be after from");
  AIMASS_ASSIGN_OR_RETURN(auto tallies, store_.Tallies(name, FloorDiv(from_ms, 1000), FloorDiv(to_ms + 999, 1000)));
  AIMASS_ASSIGN_OR_RETURN(StreamSpec spec, ParseStreamSpec(json::parse(s.spec)));

  struct Agg {
    uint64_t in = 0, out = 0, sum = 0, frames = 0;
    int max = 0;
    void Add(const mot::Tally& t) {
      in += t.in;
      out += t.out;
      sum += t.occupancy_sum;
      frames += t.frames;
      max = std::max(max, t.occupancy_max);
    }
  };
  std::map<mot::CounterKey, Agg> total;
  std::map<int64_t, std::map<mot::CounterKey, Agg>> by_interval;
  for (const auto& l : spec.lines) total[{"line", l.name}];
  for (const auto& z : spec.zones) total[{"zone", z.name}];
  for (const auto& t : tallies) {
    total[t.key].Add(t.tally);
    by_interval[FloorDiv(t.second, step) * step][t.key].Add(t.tally);
  }
  auto occupancy = [](const Agg& a) {
    return json{{"max", a.max}, {"avg", a.frames ? std::round(1000.0 * static_cast<double>(a.sum) / static_cast<double>(a.frames)) / 1000 : 0.0}};
  };
  auto render = [&](const std::map<mot::CounterKey, Agg>& m, bool with_all_counters) {
    json lines = json::object(), zones = json::object(), people = {{"max", 0}, {"avg", 0.0}, {"frames", 0}};
    for (const auto& [k, a] : m) {
      if (k.kind == "line") lines[k.name] = {{"in", a.in}, {"out", a.out}};
      if (k.kind == "zone") zones[k.name] = occupancy(a);
      if (k.kind == "people") {
        people = occupancy(a);
        people["frames"] = a.frames;  // frames analysed in the range: each once
      }
    }
    if (with_all_counters) {
      for (const auto& l : spec.lines) {
        if (!lines.contains(l.name)) lines[l.name] = {{"in", 0}, {"out", 0}};
      }
      for (const auto& z : spec.zones) {
        if (!zones.contains(z.name)) zones[z.name] = {{"max", 0}, {"avg", 0.0}};
      }
    }
    return json{{"lines", lines}, {"zones", zones}, {"people", people}};
  };
  json out = render(total, true);
  // Zone visits: how many, and how long they stayed.
  AIMASS_ASSIGN_OR_RETURN(auto visits, store_.Visits(name, from_ms, to_ms, 0));
  std::map<std::string, std::vector<double>> dwell;
  for (const auto& v : visits) dwell[v.zone].push_back(v.dwell_s());
  for (auto& [zone, z] : out["zones"].items()) {
    const auto& d = dwell[zone];
    z["visits"] = d.size();
    double sum = 0, mx = 0;
    for (double x : d) {
      sum += x;
      mx = std::max(mx, x);
    }
    z["dwell_avg_s"] = d.empty() ? 0.0 : std::round(100 * sum / static_cast<double>(d.size())) / 100;
    z["dwell_max_s"] = std::round(100 * mx) / 100;
  }
  json intervals = json::array();
  if (!by_interval.empty()) {
    const int64_t first = by_interval.begin()->first, last = by_interval.rbegin()->first;
    if ((last - first) / step + 1 > kMaxIntervals) {
      return Status::BadRequest("that is more than " + std::to_string(kMaxIntervals) + " intervals: choose a longer interval or a shorter range");
    }
    for (int64_t t = first; t <= last; t += step) {
      auto it = by_interval.find(t);
      json iv = render(it == by_interval.end() ? std::map<mot::CounterKey, Agg>{} : it->second, true);
      iv["start"] = Rfc3339(t);
      intervals.push_back(std::move(iv));
    }
  }
  out["intervals"] = std::move(intervals);
  out["interval_s"] = step;
  out["stream"] = name;
  out["state"] = s.state;
  out["frames"] = s.frames;
  {
    std::lock_guard lock(mu_);
    auto it = now_.find(name);
    out["now"] = it == now_.end() ? json(nullptr) : it->second;
  }
  return out;
}

Result<json> CrowdService::Tracks(const std::string& name, const std::string& from, const std::string& to, int64_t limit, bool paths,
                                  bool newest_first) {
  AIMASS_RETURN_IF_ERROR(Row(name).status());
  AIMASS_ASSIGN_OR_RETURN(int64_t from_ms, TimeParam(from, "from", INT64_MIN / 2));
  AIMASS_ASSIGN_OR_RETURN(int64_t to_ms, TimeParam(to, "to", INT64_MAX / 2));
  if (limit < 1 || limit > 10000) return Status::BadRequest("limit is 1 to 10000");
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Tracks(name, from_ms, to_ms, limit, newest_first));
  AIMASS_ASSIGN_OR_RETURN(auto visits, store_.Visits(name, from_ms, to_ms, 0));
  std::map<uint64_t, json> zones;
  for (const auto& v : visits) {
    zones[v.track].push_back({{"zone", v.zone}, {"enter", Rfc3339Ms(v.enter_ms)}, {"exit", Rfc3339Ms(v.exit_ms)}, {"dwell_s", v.dwell_s()}});
  }
  json out = json::array();
  for (const auto& t : rows) {
    json body = json::parse(t.body, nullptr, false);
    json j = {{"id", t.id},
              {"first_frame", t.first_frame},
              {"last_frame", t.last_frame},
              {"start", Rfc3339Ms(t.first_ms)},
              {"end", Rfc3339Ms(t.last_ms)},
              {"duration_s", static_cast<double>(t.last_ms - t.first_ms) / 1000.0},
              {"crossings", body.is_object() ? body["crossings"] : json::array()},
              {"zones", zones.count(static_cast<uint64_t>(t.id)) ? zones[static_cast<uint64_t>(t.id)] : json::array()}};
    if (paths) j["path"] = body.is_object() ? body["path"] : json::array();
    out.push_back(std::move(j));
  }
  return json{{"tracks", out}};
}

Result<json> CrowdService::Track(const std::string& name, int64_t id) {
  AIMASS_RETURN_IF_ERROR(Row(name).status());
  AIMASS_ASSIGN_OR_RETURN(TrackRow t, store_.Track(name, id));
  AIMASS_ASSIGN_OR_RETURN(json list, Tracks(name, Rfc3339Ms(t.first_ms), Rfc3339Ms(t.last_ms + 1), 10000, true, false));
  for (const auto& j : list["tracks"]) {
    if (j["id"] == id) return j;
  }
  return Status::NotFound("no ended track " + std::to_string(id) + " in stream '" + name + "'");
}

Result<json> CrowdService::Alerts(const std::string& name, const std::string& from, const std::string& to, int64_t limit,
                                  bool newest_first) {
  AIMASS_RETURN_IF_ERROR(Row(name).status());
  AIMASS_ASSIGN_OR_RETURN(int64_t from_ms, TimeParam(from, "from", INT64_MIN / 2));
  AIMASS_ASSIGN_OR_RETURN(int64_t to_ms, TimeParam(to, "to", INT64_MAX / 2));
  if (limit < 1 || limit > 10000) return Status::BadRequest("limit is 1 to 10000");
  AIMASS_ASSIGN_OR_RETURN(auto rows, store_.Alerts(name, from_ms, to_ms, limit, newest_first));
  json out = json::array();
  for (const auto& a : rows) {
    json j = {{"kind", a.kind}, {"zone", a.zone}, {"frame", a.frame}, {"at", Rfc3339Ms(a.at_ms)}};
    if (a.kind == "loitering") {
      j["track"] = a.track;
      j["dwell_s"] = a.dwell_s;
    } else {
      j["occupancy"] = a.occupancy;
    }
    out.push_back(std::move(j));
  }
  return json{{"alerts", out}};
}

Result<std::string> CrowdService::HeatmapPng(const std::string& name, bool overlay) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  if (s.grid_width <= 0 || s.width <= 0) return Status::NotFound("stream '" + name + "' has no presence recorded yet");
  AIMASS_ASSIGN_OR_RETURN(auto grid, store_.Heat(name, s.grid_width * s.grid_height));
  std::string background;
  if (overlay) {
    auto snap = ReadFile(o_.dir + "/" + name + ".jpg");
    if (snap.ok()) background = std::move(*snap);
  }
  return mot::HeatmapPng(grid, static_cast<int>(s.grid_width), static_cast<int>(s.grid_height), static_cast<int>(s.width),
                         static_cast<int>(s.height), background);
}

Result<std::string> CrowdService::Snapshot(const std::string& name) {
  AIMASS_RETURN_IF_ERROR(Row(name).status());
  auto snap = ReadFile(o_.dir + "/" + name + ".jpg");
  if (!snap.ok()) return Status::NotFound("stream '" + name + "' has no frame yet");
  return snap;
}

Result<std::shared_ptr<http::ResponseStream>> CrowdService::Live(const std::string& name, LiveFeed::Format format) {
  AIMASS_RETURN_IF_ERROR(Row(name).status());
  return live_.Open(name, format);
}

Result<json> CrowdService::WorkerConfig(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  return json{{"spec", json::parse(s.spec)}, {"run", s.run},           {"frames", s.frames}, {"next_track", s.next_track},
              {"t0_ms", s.t0_ms},            {"revision", s.revision}, {"desired", s.desired}};
}

Result<std::string> CrowdService::SourcePath(const std::string& name) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  AIMASS_ASSIGN_OR_RETURN(StreamSpec spec, ParseStreamSpec(json::parse(s.spec)));
  if (!spec.local_file()) return Status::BadRequest("stream '" + name + "' does not read a local file");
  if (!UnderDir(spec.path(), o_.video_dirs)) return Status::Forbidden("the stream's file is not under crowd.video_dirs");
  return spec.path();
}

Result<json> CrowdService::Report(const std::string& name, const json& body) {
  AIMASS_ASSIGN_OR_RETURN(crowd::Report r, ParseReport(body));
  AIMASS_RETURN_IF_ERROR(ValidateName("stream name", name, 64));
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, store_.Apply(name, r, UnixNowMs()));
  if (AIMASS_FAILPOINT("crowd.after_report_commit")) return failpoint::IoError("crowd.after_report_commit", EIO);
  for (const AlertRow& a : r.alerts) {
    json e = {{"stream", name}, {"kind", a.kind}, {"zone", a.zone}, {"frame", a.frame}, {"at", Rfc3339Ms(a.at_ms)}};
    if (a.kind == "loitering") {
      e["track"] = a.track;
      e["dwell_s"] = a.dwell_s;
    } else {
      e["occupancy"] = a.occupancy;
    }
    if (o_.bus) o_.bus->Publish("crowd.alert." + a.kind, e.dump());
  }
  auto now = body.find("now");
  if (now != body.end() && now->is_object() && now->size() <= 130) {
    std::lock_guard lock(mu_);
    now_[name] = *now;
  }
  if (r.state == "finished" || r.state == "failed") {
    {
      std::lock_guard lock(mu_);
      exported_at_ms_[name] = 0;  // its last minutes go to the dataset now
    }
    wake_.notify_all();
  }
  return json{{"desired", s.desired}, {"live", live_.Watched(name, UnixNowMs())}, {"revision", s.revision}, {"frames", s.frames}};
}

Status CrowdService::PutSnapshot(const std::string& name, int64_t run, std::string jpeg) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  if (run != s.run) return Status::Conflict("this worker (run " + std::to_string(run) + ") was replaced");
  if (jpeg.size() < 4 || static_cast<unsigned char>(jpeg[0]) != 0xFF || static_cast<unsigned char>(jpeg[1]) != 0xD8) {
    return Status::BadRequest("a snapshot is a JPEG image");
  }
  return WriteFileAtomically(o_.dir + "/" + name + ".jpg", jpeg, 0600);
}

Status CrowdService::PushLive(const std::string& name, int64_t run, std::string jpeg, const std::string& info) {
  AIMASS_ASSIGN_OR_RETURN(StreamRow s, Row(name));
  if (run != s.run) return Status::Conflict("this worker (run " + std::to_string(run) + ") was replaced");
  if (jpeg.size() < 4 || static_cast<unsigned char>(jpeg[0]) != 0xFF || static_cast<unsigned char>(jpeg[1]) != 0xD8) {
    return Status::BadRequest("a live frame is a JPEG image");
  }
  json i = json::parse(info, nullptr, false);
  if (!i.is_object()) i = json::object();
  i["received_at"] = Rfc3339Ms(UnixNowMs());  // a viewer can tell an old frame (a stopped stream's last)
  live_.Publish(name, std::move(jpeg), i.dump());
  return Status::Ok();
}

Status CrowdService::Submit(StreamRow& s) {
  const int64_t run = s.run + 1;
  AIMASS_ASSIGN_OR_RETURN(std::string token, o_.auth->IssueServiceToken(s.owner, kTokenTtlS));
  json job = {{"name", "crowd-" + s.name},
              {"command", json::array({o_.aimass_binary, "crowd", "worker", s.name})},
              {"env",
               {{"AIMASS_SERVER", o_.platform_url ? o_.platform_url() : ""},
                {"AIMASS_TOKEN", token},
                {"AIMASS_CROWD_STREAM", s.name},
                {"AIMASS_CROWD_RUN", std::to_string(run)}}},
              {"resources", {{"cpus", o_.job_cpus}, {"memory_mb", o_.job_memory_mb}}},
              {"timeout_s", kTokenTtlS},
              {"sandbox", true},
              {"network", true},
              {"labels", {{"crowd_stream", s.name}}}};
  AIMASS_ASSIGN_OR_RETURN(cluster::JobSpec spec, cluster::ParseJobSpec(job));
  AIMASS_ASSIGN_OR_RETURN(Principal who, o_.auth->PrincipalOf(s.owner));
  // The run is recorded first: a worker of the new run is never refused for an old number.
  AIMASS_RETURN_IF_ERROR(store_.SetRun(s.name, run, 0, s.state == "restarting" ? "restarting" : "starting"));
  AIMASS_ASSIGN_OR_RETURN(cluster::Job submitted, o_.cluster->Submit(std::move(spec), who));
  s.run = run;
  s.job_id = submitted.id;
  return store_.SetRun(s.name, run, submitted.id, s.state == "restarting" ? "restarting" : "starting");
}

void CrowdService::Supervise() {
  auto rows = store_.List();
  if (!rows.ok()) {
    spdlog::warn("crowd: {}", rows.status().message());
    return;
  }
  const int64_t now = UnixNowMs();
  for (StreamRow& s : *rows) {
    if (stopping_) return;
    Status st = Status::Ok();
    if (s.desired == "paused") {
      if (s.job_id > 0 && now - s.updated_ms > kPauseGraceMs) {
        auto job = o_.cluster->Get(s.job_id);
        if (job.ok() && !cluster::Finished(job->state) && job->stop.empty()) (void)o_.cluster->Cancel(s.job_id);
      }
    } else if (s.state != "finished" && s.state != "failed") {
      if (s.job_id == 0) {
        st = Submit(s);
      } else if (auto job = o_.cluster->Get(s.job_id); job.ok()) {
        if (cluster::Finished(job->state)) {
          // The worker ended without the video ending: start another after a back-off.
          const int64_t delay = 1000LL << std::min<int64_t>(s.restarts, 5);
          if (now - job->finished_ms >= delay) {
            ++s.restarts;
            s.state = "restarting";
            s.error = std::string("the worker ended (") + cluster::StateName(job->state) + (job->reason.empty() ? "" : ": " + job->reason) +
                      (job->exit_code >= 0 ? ", exit code " + std::to_string(job->exit_code) : "") + "); restarted";
            s.updated_ms = now;
            st = store_.Update(s);
            if (st.ok()) st = Submit(s);
          }
        } else if (job->state == cluster::JobState::kRunning && job->stop.empty() &&
                   now - std::max(s.reported_ms, job->started_ms) > o_.stall_ms) {
          spdlog::warn("crowd: stream {}: no report for {} s, its worker is replaced", s.name, o_.stall_ms / 1000);
          (void)o_.cluster->Cancel(s.job_id);
        }
      } else if (job.status().code() == Code::kNotFound) {
        st = Submit(s);
      }
    }
    if (!st.ok()) spdlog::warn("crowd: stream {}: {}", s.name, st.message());
    // Finished minutes to the dataset.
    bool due = false;
    {
      std::lock_guard lock(mu_);
      auto& at = exported_at_ms_[s.name];
      if (now - at >= o_.export_ms) {
        due = true;
        at = now;
      }
    }
    if (due) {
      // A paused stream may go on in the same minute (a file's time is its video's): whole minutes only.
      Status e = ExportMinutes(s, s.state == "finished" || s.state == "failed");
      if (!e.ok()) spdlog::warn("crowd: stream {}: export: {}", s.name, e.message());
    }
  }
}

Status CrowdService::ExportMinutes(const StreamRow& s, bool all) {
  if (!o_.datasets) return Status::Ok();
  AIMASS_ASSIGN_OR_RETURN(std::optional<int64_t> newest, store_.LastSecond(s.name));
  if (!newest) return Status::Ok();
  const int64_t last = *newest;
  const int64_t from = s.exported_s == 0 ? INT64_MIN / 2 : s.exported_s;
  // Whole minutes only, unless the stream ended (then its last minute is whole too).
  const int64_t upto = all ? FloorDiv(last, 60) * 60 + 60 : FloorDiv(last, 60) * 60;
  if (upto <= from) {
    // The cube waits for the dataset's first version to be profiled; it is made on a later pass.
    if (s.exported_s == 0 || !o_.datasets->Get(DatasetName(s.name)).ok()) return Status::Ok();
    AIMASS_ASSIGN_OR_RETURN(Principal who, o_.auth->PrincipalOf(s.owner));
    return EnsureCube(s.name, who);
  }
  AIMASS_ASSIGN_OR_RETURN(auto tallies, store_.Tallies(s.name, from, upto));
  if (tallies.empty()) return store_.SetExported(s.name, upto);
  std::map<std::pair<int64_t, mot::CounterKey>, mot::Tally> minutes;
  for (const auto& t : tallies) minutes[{FloorDiv(t.second, 60) * 60, t.key}].Merge(t.tally);
  std::string body;
  for (const auto& [k, t] : minutes) {
    const double avg = t.frames ? static_cast<double>(t.occupancy_sum) / static_cast<double>(t.frames) : 0.0;
    json row = {{"time", Rfc3339(k.first)},   {"stream", s.name},        {"kind", k.second.kind},
                {"counter", k.second.kind == "people" ? "people" : k.second.name},  {"in", t.in},   {"out", t.out},
                {"occupancy_max", t.occupancy_max}, {"occupancy_avg", std::round(avg * 1000) / 1000 + 0.0}};
    // nlohmann writes a double with a fraction (2.0), so every append has the first one's schema.
    const std::string line = row.dump();
    body += line + "\n";
  }
  const std::string dataset = DatasetName(s.name);
  AIMASS_ASSIGN_OR_RETURN(Principal who, o_.auth->PrincipalOf(s.owner));
  if (!o_.datasets->Get(dataset).ok()) {
    auto created = o_.datasets->Create(dataset, "People counted per minute by crowd stream " + s.name + " (made by the crowd module)",
                                       datasets::DatasetKind::kTable, s.owner);
    if (!created.ok() && created.status().code() != Code::kConflict) return created.status();
  }
  datasets::Upload u;
  u.content_type = "application/x-ndjson";
  AIMASS_ASSIGN_OR_RETURN(auto latest, o_.datasets->LatestWhole(dataset));
  if (latest) u.append = "latest";
  u.lineage_json = json{{"source", "crowd"}, {"stream", s.name}, {"from", Rfc3339(from < 0 ? tallies.front().second : from)}, {"to", Rfc3339(upto)}}.dump();
  u.message = "crowd counts per minute to " + Rfc3339(upto);
  AIMASS_RETURN_IF_ERROR(o_.datasets->AddVersionFromBytes(dataset, body, std::move(u), who).status());
  AIMASS_RETURN_IF_ERROR(store_.SetExported(s.name, upto));
  return EnsureCube(s.name, who);
}

Status CrowdService::EnsureCube(const std::string& stream, const Principal& who) {
  if (!o_.cubes) return Status::Ok();
  const std::string name = DatasetName(stream);
  if (o_.cubes->Get(name).ok()) return Status::Ok();
  json spec = {{"name", name},
               {"description", "People counted per minute by crowd stream " + stream},
               {"source", {{"dataset", name}, {"version", "latest"}}},
               {"dimensions", json::array({{{"name", "time"}, {"column", "time"}, {"type", "time"}},
                                           {{"name", "kind"}, {"column", "kind"}},
                                           {{"name", "counter"}, {"column", "counter"}}})},
               {"measures", json::array({{{"name", "in"}, {"column", "in"}, {"agg", "sum"}},
                                         {{"name", "out"}, {"column", "out"}, {"agg", "sum"}},
                                         {{"name", "occupancy_max"}, {"column", "occupancy_max"}, {"agg", "max"}},
                                         {{"name", "occupancy_avg"}, {"column", "occupancy_avg"}, {"agg", "avg"}}})}};
  auto r = o_.cubes->Create(spec, who);
  if (!r.ok() && r.status().code() != Code::kConflict) {
    // Not yet: the dataset's first version is still being profiled.
    auto latest = o_.datasets->LatestWhole(name);
    if (latest.ok() && *latest && (*latest)->status != "ready") return Status::Ok();
    return r.status();
  }
  return Status::Ok();
}

}  // namespace aimass::crowd
