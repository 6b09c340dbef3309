#include "crowd/worker.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/media_type.hpp"
#include "common/text.hpp"
#include "common/time.hpp"
#include "crowd/model_detector.hpp"
#include "crowd/report.hpp"
#include "crowd/stream_spec.hpp"
#include "http/client.hpp"
#include "mot/frame_image.hpp"

namespace aimass::crowd {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string Env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

class Platform {
 public:
  Platform(std::string server, std::string token) : server_(std::move(server)), token_(std::move(token)) {}

  Result<http::ClientResponse> Send(http::Method m, const std::string& path, std::string body, const std::string& type,
                                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::ClientRequest req;
    req.method = m;
    req.url = server_ + path;
    req.headers = std::move(headers);
    req.headers.emplace_back("Authorization", "Bearer " + token_);
    if (!type.empty()) req.headers.emplace_back("Content-Type", type);
    req.body = std::move(body);
    req.timeout = std::chrono::minutes(10);
    return client_.Send(req);
  }

  Result<json> Call(const std::string& method, const std::string& path, const json* body) {
    const http::Method m = method == "GET" ? http::Method::kGet : method == "PUT" ? http::Method::kPut : http::Method::kPost;
    AIMASS_ASSIGN_OR_RETURN(auto r, Send(m, path, body ? body->dump() : "", body ? "application/json" : ""));
    return Answer(r, path);
  }

  static Result<json> Answer(const http::ClientResponse& r, const std::string& path) {
    json j = json::parse(r.body, nullptr, false);
    if (r.status >= 300) {
      std::string msg = j.is_object() && j.contains("error") && j["error"].is_object() ? j["error"].value("message", r.body) : r.body.substr(0, 300);
      const Code code = r.status == 409 ? Code::kConflict : r.status == 404 ? Code::kNotFound : r.status == 401 ? Code::kUnauthenticated
                        : r.status == 403 ? Code::kForbidden : r.status < 500 ? Code::kBadRequest : Code::kUnavailable;
      return Status(code, path + ": " + msg);
    }
    if (r.body.empty()) return json(nullptr);
    if (j.is_discarded()) return Status::Internal(path + " answered something that is not JSON");
    return j;
  }

  // Downloads to a file (the source video, a dataset's files).
  Status Download(const std::string& path, const std::string& to) {
    AIMASS_ASSIGN_OR_RETURN(auto r, Send(http::Method::kGet, path, "", ""));
    if (r.status != 200) return Answer(r, path).status();
    std::ofstream f(to, std::ios::binary);
    f.write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
    if (!f) return Status::Internal("cannot write " + to);
    return Status::Ok();
  }

 private:
  std::string server_, token_;
  http::Client client_{http::ClientOptions{16, 8ull << 30}};
};

// By the manifest's media type (a version stored before the platform knew the extension may
// say application/octet-stream), else by the file's extension now.
bool IsVideo(const std::string& path, const std::string& media_type) {
  return media_type.starts_with("video/") || MediaTypeOf(path).starts_with("video/");
}

// The source: a URL read directly, or the frames downloaded into the job's directory first.
Result<std::unique_ptr<mot::VideoSource>> OpenSource(Platform& p, const std::string& stream, const StreamSpec& spec) {
  const std::string base = "/api/v1/crowd/streams/" + stream;
  if (!spec.dataset.empty()) {
    const std::string ds = "/api/v1/datasets/" + PercentEncode(spec.dataset) + "/versions/" + PercentEncode(spec.dataset_version);
    AIMASS_ASSIGN_OR_RETURN(json version, p.Call("GET", ds, nullptr));
    const int64_t files = version.value("row_count", int64_t{0});
    std::vector<std::pair<std::string, std::string>> entries;  // path, media type
    for (int64_t at = 0; at < files; at += 10000) {
      AIMASS_ASSIGN_OR_RETURN(json rows, p.Call("GET", ds + "/rows?columns=path,media_type&limit=10000&offset=" + std::to_string(at), nullptr));
      const json& list = rows.is_object() ? rows["rows"] : rows;
      for (const auto& r : list) entries.emplace_back(r.value("path", ""), r.value("media_type", ""));
    }
    if (entries.empty()) return Status::BadRequest("dataset '" + spec.dataset + "' has no files");
    fs::create_directories("source");
    std::vector<std::string> images;
    for (const auto& [path, type] : entries) {
      const std::string local = "source/" + std::to_string(images.size()) + fs::path(path).extension().string();
      if (IsVideo(path, type)) {
        AIMASS_RETURN_IF_ERROR(p.Download(ds + "/files/" + PercentEncode(path, true), local));
        return mot::OpenVideo(local);
      }
      if (!type.starts_with("image/")) continue;
      AIMASS_RETURN_IF_ERROR(p.Download(ds + "/files/" + PercentEncode(path, true), local));
      images.push_back(local);
    }
    if (images.empty()) return Status::BadRequest("dataset '" + spec.dataset + "' holds neither a video nor images");
    return mot::OpenImages(std::move(images), spec.fps > 0 ? spec.fps : 10);
  }
  if (spec.local_file()) {
    const std::string local = "source" + fs::path(spec.path()).extension().string();
    if (!fs::exists(local)) AIMASS_RETURN_IF_ERROR(p.Download(base + "/source", local));
    return mot::OpenVideo(local);
  }
  return mot::OpenVideo(spec.url);
}

}  // namespace

int RunWorker(const std::string& stream) {
  Platform p(Env("AIMASS_SERVER"), Env("AIMASS_TOKEN"));
  const int64_t run = std::atoll(Env("AIMASS_CROWD_RUN").c_str());
  const std::string base = "/api/v1/crowd/streams/" + stream;
  auto say = [&](const std::string& what) { std::cerr << Rfc3339Ms(UnixNowMs()) << " crowd worker " << stream << ": " << what << std::endl; };

  auto config = p.Call("GET", base + "/worker", nullptr);
  if (!config.ok()) {
    say(config.status().message());
    return 1;
  }
  auto parsed = ParseStreamSpec((*config)["spec"]);
  if (!parsed.ok()) {
    say(parsed.status().message());
    return 1;
  }
  StreamSpec spec = std::move(*parsed);
  int64_t frames = (*config)["frames"].get<int64_t>();
  int64_t revision = (*config)["revision"].get<int64_t>();
  const int64_t t0 = (*config)["t0_ms"].get<int64_t>();
  const bool file = !spec.dataset.empty() || spec.local_file();

  WorkerState w;
  w.run = run;
  w.from_frame = w.to_frame = frames;

  // Sends what was seen; false when the worker should stop (paused, replaced, refused).
  bool live = false, stop = false;
  auto report = [&](mot::FlowAnalyzer* a, const json& now) -> bool {
    mot::FlowReport r = a ? a->Take() : mot::FlowReport{};
    w.next_track = 0;
    json body = EncodeReport(w, r, now);
    // A restarted worker's tracks get ids past every id this one gave.
    if (a) body["next_track"] = a->next_track();
    for (int attempt = 0;; ++attempt) {
      auto answer = p.Call("POST", base + "/report", &body);
      if (answer.ok()) {
        w.from_frame = w.to_frame;
        live = answer->value("live", false);
        if (answer->value("desired", "running") != "running" && !stop) {
          say("paused");
          stop = true;
          // The tracks it follows end here: their paths and crossings are kept.
          if (a) {
            a->Finish();
            mot::FlowReport rest = a->Take();
            json last = EncodeReport(w, rest, now);
            last["next_track"] = a->next_track();
            (void)p.Call("POST", base + "/report", &last);
          }
        }
        const int64_t rev = answer->value("revision", revision);
        if (rev != revision && a) {
          auto fresh = p.Call("GET", base + "/worker", nullptr);
          if (fresh.ok()) {
            auto s = ParseStreamSpec((*fresh)["spec"]);
            if (s.ok()) {
              spec.lines = s->lines;
              spec.zones = s->zones;
              a->Reconfigure(spec.lines, spec.zones);
              revision = rev;
              say("lines and zones changed (revision " + std::to_string(rev) + ")");
            }
          }
        }
        return !stop;
      }
      const Code c = answer.status().code();
      if (c != Code::kUnavailable && c != Code::kDeadlineExceeded && c != Code::kInternal) {
        say("the platform refused the report: " + answer.status().message());
        stop = true;
        return false;
      }
      if (attempt >= 30) {
        say("cannot reach the platform: " + answer.status().message());
        stop = true;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::seconds(std::min(attempt + 1, 5)));
    }
  };

  // Opens the source; a live one is retried until it opens or the stream is paused.
  std::unique_ptr<mot::VideoSource> source;
  auto open = [&]() -> bool {
    for (int attempt = 0;; ++attempt) {
      auto s = OpenSource(p, stream, spec);
      if (s.ok()) {
        source = std::move(*s);
        if (file && frames > 0) source->Skip(static_cast<uint64_t>(frames));
        return true;
      }
      w.error = s.status().message();
      if (file) {
        say(w.error);
        w.state = "failed";
        report(nullptr, json::object());
        return false;
      }
      w.state = "reconnecting";
      say("cannot open the stream (" + w.error + "); trying again");
      if (!report(nullptr, json::object())) return false;
      std::this_thread::sleep_for(std::chrono::seconds(std::min(1 << std::min(attempt, 3), 10)));
    }
  };
  if (!open()) return 0;

  std::unique_ptr<mot::PeopleDetector> detector;
  ModelDetector* model = nullptr;
  if (spec.detector.kind == "model") {
    auto m = std::make_unique<ModelDetector>(spec.detector, [&p](const std::string& method, const std::string& path, const json* body) {
      return p.Call(method, path, body);
    });
    model = m.get();
    detector = std::move(m);
  } else {
    detector = mot::MakeHogDetector(HogOptionsOf(spec.detector));
  }
  mot::FlowOptions fo = FlowOptionsOf(spec);
  fo.sort.first_id = static_cast<uint64_t>(std::max<int64_t>(1, (*config)["next_track"].get<int64_t>()));
  mot::FlowAnalyzer analyzer(*detector, fo, spec.lines, spec.zones);

  double video_fps = source->fps();
  if (!(video_fps > 0 && video_fps < 1000)) video_fps = spec.fps > 0 ? spec.fps : 25;
  w.video_fps = video_fps;
  w.state = "running";
  w.error.clear();
  say("started at frame " + std::to_string(frames) + " (" + std::to_string(video_fps) + " frames/s)");

  mot::Frame frame;
  int64_t last_report = UnixNowMs(), last_snapshot = 0, last_live = 0, window_start = UnixNowMs(), window_frames = 0;
  const int64_t wall_start = UnixNowMs();
  const int64_t first_frame = frames;
  int64_t taken = -1;  // the last frame kept when fps decimates
  int reconnects = 0;
  auto now_json = [&](const mot::FrameView& v) {
    json zones = json::object();
    for (size_t z = 0; z < spec.zones.size() && z < v.occupancy.size(); ++z) zones[spec.zones[z].name] = v.occupancy[z];
    return json{{"frame", v.frame}, {"time", Rfc3339Ms(v.time_ms)}, {"people", v.tracks.size()}, {"zones", zones}};
  };
  json now = json::object();
  while (!stop) {
    if (!source->Read(&frame)) {
      if (file) {
        analyzer.Finish();
        w.state = source->status().ok() ? "finished" : "failed";
        w.error = source->status().ok() ? "" : source->status().message();
        report(&analyzer, now);
        say(w.state == "finished" ? "the video ended at frame " + std::to_string(w.to_frame) : w.error);
        return 0;
      }
      // A live stream dropped: report what was seen, then reopen it.
      w.state = "reconnecting";
      w.error = "the stream stopped sending frames; reconnecting";
      if (!report(&analyzer, now)) return 0;
      std::this_thread::sleep_for(std::chrono::seconds(std::min(1 << std::min(reconnects++, 3), 10)));
      if (!open()) return 0;
      w.state = "running";
      w.error.clear();
      continue;
    }
    reconnects = 0;
    // A live stream's frames are numbered on from where the stream is.
    const int64_t index = file ? static_cast<int64_t>(frame.index) : w.to_frame;
    frame.index = static_cast<uint64_t>(index);
    w.to_frame = index + 1;
    w.width = frame.width;
    w.height = frame.height;
    if (spec.fps > 0 && spec.fps < video_fps) {
      const int64_t slot = static_cast<int64_t>(std::floor(static_cast<double>(index) * spec.fps / video_fps));
      if (slot == taken) continue;
      taken = slot;
    }
    if (spec.realtime && file) {
      const int64_t due = wall_start + static_cast<int64_t>(static_cast<double>(index - first_frame) * 1000.0 / video_fps);
      const int64_t wait = due - UnixNowMs();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    }
    const int64_t t = file ? t0 + static_cast<int64_t>(std::llround(static_cast<double>(index) * 1000.0 / video_fps)) : UnixNowMs();
    const mot::FrameView& view = analyzer.Process(frame, t);
    ++window_frames;
    now = now_json(view);
    if (model) w.error = model->status().ok() ? "" : "the detection model: " + model->status().message();
    const int64_t wall = UnixNowMs();
    if (last_snapshot == 0 || wall - last_snapshot >= 60000) {
      last_snapshot = wall;
      auto r = p.Send(http::Method::kPut, base + "/snapshot?run=" + std::to_string(run), mot::EncodeJpeg(frame, 85), "image/jpeg");
      if (r.ok() && r->status == 409) return 0;
    }
    if (live && wall - last_live >= static_cast<int64_t>(1000.0 / spec.live_fps)) {
      last_live = wall;
      (void)p.Send(http::Method::kPost, base + "/live?run=" + std::to_string(run),
                   mot::AnnotatedJpeg(frame, view, analyzer.lines(), analyzer.zones(), 75), "image/jpeg", {{"X-Crowd-Info", now.dump()}});
    }
    if (wall - last_report >= 1000) {
      w.fps = static_cast<double>(window_frames) * 1000.0 / static_cast<double>(std::max<int64_t>(1, wall - window_start));
      window_start = wall;
      window_frames = 0;
      last_report = wall;
      if (!report(&analyzer, now)) return 0;
    }
  }
  return 0;
}

}  // namespace aimass::crowd
