#include "crowd/api.hpp"

#include <sys/stat.h>

#include "http/file_response.hpp"
#include "http/json.hpp"

namespace aimass::crowd {

using http::Json;
using http::Method;
using http::Request;
using http::Response;

namespace {

std::string P(const Request& req, const char* name) { return std::string(req.Param(name)); }
std::string Q(const Request& req, const char* name) { return req.Query(name).value_or(""); }

Result<bool> Order(const Request& req) {
  const std::string o = Q(req, "order");
  if (o.empty() || o == "asc") return false;
  if (o == "desc") return true;
  return Status::BadRequest("order is asc or desc");
}

Response Bytes(std::string body, const char* type) {
  Response r;
  r.headers.Set("Content-Type", type);
  r.headers.Set("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

constexpr uint64_t kMaxReportBytes = 64u << 20;
constexpr uint64_t kMaxImageBytes = 16u << 20;

}  // namespace

Status RegisterRoutes(http::Router& router, CrowdService& service) {
  CrowdService& s = service;
  std::vector<http::Route> routes;
  auto add = [&](Method m, std::string pattern, std::string permission, std::string summary, http::Handler h) -> http::Route& {
    routes.push_back(http::MakeRoute(m, std::move(pattern), std::move(permission), "crowd", std::move(summary), std::move(h)));
    return routes.back();
  };
  const std::string stream = "/api/v1/crowd/streams/{stream}";

  add(Method::kPost, "/api/v1/crowd/streams", "crowd:write",
      "Start a stream {name, url | dataset, fps, roi, detector, tracker, lines, zones, realtime, live_fps, start}: a cluster job reads "
      "its frames, detects, tracks and counts people",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Create(body, *req.principal));
        Response r = http::JsonResponse(201, b);
        r.headers.Set("Location", "/api/v1/crowd/streams/" + b["name"].get<std::string>());
        return r;
      });
  add(Method::kGet, "/api/v1/crowd/streams", "crowd:read", "List the streams with their states", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.List());
    return http::JsonResponse(200, b);
  });
  add(Method::kGet, stream, "crowd:read", "A stream: its definition, state, frames processed and speed", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.Get(P(req, "stream")));
    return http::JsonResponse(200, b);
  });
  add(Method::kDelete, stream, "crowd:write", "Stop and delete a stream with its counts (its dataset and cube stay)",
      [&s](Request& req) -> Response {
        HTTP_TRY_STATUS(s.Delete(P(req, "stream")));
        return http::NoContent();
      });
  add(Method::kPost, stream + "/pause", "crowd:write", "Pause a stream (its job stops; resume goes on from the frame reached)",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Pause(P(req, "stream")));
        return http::JsonResponse(200, b);
      });
  add(Method::kPost, stream + "/resume", "crowd:write", "Resume a paused (or failed) stream", [&s](Request& req) -> Response {
    HTTP_TRY(Json b, s.Resume(P(req, "stream")));
    return http::JsonResponse(200, b);
  });
  add(Method::kPost, stream + "/lines", "crowd:write",
      "Add or replace a counting line {name, points: [[x1, y1], [x2, y2]]} (video pixels; in = from the left of its direction to the right)",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        bool created = false;
        HTTP_TRY(Json b, s.PutLine(P(req, "stream"), body, &created));
        return http::JsonResponse(created ? 201 : 200, b);
      });
  add(Method::kDelete, stream + "/lines/{line}", "crowd:write", "Remove a counting line", [&s](Request& req) -> Response {
    HTTP_TRY_STATUS(s.DeleteLine(P(req, "stream"), P(req, "line")));
    return http::NoContent();
  });
  add(Method::kPost, stream + "/zones", "crowd:write",
      "Add or replace a zone {name, points: [[x, y], …], max_occupancy, loiter_s}", [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        bool created = false;
        HTTP_TRY(Json b, s.PutZone(P(req, "stream"), body, &created));
        return http::JsonResponse(created ? 201 : 200, b);
      });
  add(Method::kDelete, stream + "/zones/{zone}", "crowd:write", "Remove a zone", [&s](Request& req) -> Response {
    HTTP_TRY_STATUS(s.DeleteZone(P(req, "stream"), P(req, "zone")));
    return http::NoContent();
  });
  add(Method::kGet, stream + "/counts", "crowd:read",
      "Counts per line and direction, occupancy and dwell per zone, people in view, totals and per ?interval= (1m) in ?from=&to= (RFC 3339)",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.Counts(P(req, "stream"), Q(req, "from"), Q(req, "to"), Q(req, "interval")));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, stream + "/tracks", "crowd:read",
      "Tracks that ended in ?from=&to= (?limit=1000, ?order=desc: newest first, ?path=false leaves the paths out): times, frames, "
      "crossings, zone visits",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 1000, 1, 10000));
        HTTP_TRY(bool desc, Order(req));
        HTTP_TRY(Json b, s.Tracks(P(req, "stream"), Q(req, "from"), Q(req, "to"), limit, Q(req, "path") != "false", desc));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, stream + "/tracks/{id}", "crowd:read", "One ended track with its path", [&s](Request& req) -> Response {
    HTTP_TRY(int64_t id, [&]() -> Result<int64_t> {
      try {
        size_t used = 0;
        const std::string t = P(req, "id");
        const long long n = std::stoll(t, &used);
        if (used == t.size() && n > 0) return n;
      } catch (...) {
      }
      return Status::BadRequest("a track id is a whole number");
    }());
    HTTP_TRY(Json b, s.Track(P(req, "stream"), id));
    return http::JsonResponse(200, b);
  });
  add(Method::kGet, stream + "/alerts", "crowd:read", "Overcrowding and loitering alerts in ?from=&to= (?limit=1000, ?order=desc)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t limit, http::QueryInt(req, "limit", 1000, 1, 10000));
        HTTP_TRY(bool desc, Order(req));
        HTTP_TRY(Json b, s.Alerts(P(req, "stream"), Q(req, "from"), Q(req, "to"), limit, desc));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, stream + "/heatmap.png", "crowd:read", "Where people stood, coloured, over the newest frame (?overlay=false: alone)",
      [&s](Request& req) -> Response {
        HTTP_TRY(std::string png, s.HeatmapPng(P(req, "stream"), Q(req, "overlay") != "false"));
        return Bytes(std::move(png), "image/png");
      });
  add(Method::kGet, stream + "/snapshot.jpg", "crowd:read", "The newest frame the worker sent (at its start and every minute)",
      [&s](Request& req) -> Response {
        HTTP_TRY(std::string jpeg, s.Snapshot(P(req, "stream")));
        return Bytes(std::move(jpeg), "image/jpeg");
      });
  add(Method::kGet, stream + "/live", "crowd:read",
      "Annotated frames live as server-sent events (event: frame, data: {info, jpeg (base64)})", [&s](Request& req) -> Response {
        HTTP_TRY(auto feed, s.Live(P(req, "stream"), LiveFeed::Format::kSse));
        Response r;
        r.headers.Set("Content-Type", "text/event-stream");
        r.headers.Set("Cache-Control", "no-cache");
        r.stream = std::move(feed);
        return r;
      });
  add(Method::kGet, stream + "/live.mjpg", "crowd:read", "Annotated frames live as MJPEG (multipart/x-mixed-replace)",
      [&s](Request& req) -> Response {
        HTTP_TRY(auto feed, s.Live(P(req, "stream"), LiveFeed::Format::kMjpeg));
        Response r;
        r.headers.Set("Content-Type", "multipart/x-mixed-replace; boundary=frame");
        r.headers.Set("Cache-Control", "no-cache");
        r.stream = std::move(feed);
        return r;
      });

  // The worker's routes: its owner's token, as the job was submitted with it.
  add(Method::kGet, stream + "/worker", "crowd:write", "The stream's worker: its definition, run and where to go on from",
      [&s](Request& req) -> Response {
        HTTP_TRY(Json b, s.WorkerConfig(P(req, "stream")));
        return http::JsonResponse(200, b);
      });
  add(Method::kGet, stream + "/source", "crowd:write", "The stream's worker: the local video file it reads", [&s](Request& req) -> Response {
    HTTP_TRY(std::string path, s.SourcePath(P(req, "stream")));
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return http::ErrorResponse(Status::NotFound("the stream's video file is gone"), req.request_id);
    return http::FileResponse(req, path, static_cast<uint64_t>(st.st_size), "application/octet-stream");
  });
  add(Method::kPost, stream + "/report", "crowd:write",
      "The stream's worker: what it saw since its last report; 409 when another worker replaced it or the report is not the next",
      [&s](Request& req) -> Response {
        HTTP_PARSE_BODY(body);
        HTTP_TRY(Json b, s.Report(P(req, "stream"), body));
        return http::JsonResponse(200, b);
      })
      .max_body_bytes = kMaxReportBytes;
  add(Method::kPut, stream + "/snapshot", "crowd:write", "The stream's worker: a frame (JPEG) to draw lines on and under heatmaps (?run=)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t run, http::QueryInt(req, "run", -1, -1, INT64_MAX));
        HTTP_TRY_STATUS(s.PutSnapshot(P(req, "stream"), run, std::move(req.body)));
        return http::NoContent();
      })
      .max_body_bytes = kMaxImageBytes;
  add(Method::kPost, stream + "/live", "crowd:write", "The stream's worker: an annotated frame (JPEG) for live viewers (?run=, X-Crowd-Info)",
      [&s](Request& req) -> Response {
        HTTP_TRY(int64_t run, http::QueryInt(req, "run", -1, -1, INT64_MAX));
        const std::string info(req.headers.Get("X-Crowd-Info").value_or("{}"));
        HTTP_TRY_STATUS(s.PushLive(P(req, "stream"), run, std::move(req.body), info));
        return http::NoContent();
      })
      .max_body_bytes = kMaxImageBytes;

  for (auto& r : routes) AIMASS_RETURN_IF_ERROR(router.Add(std::move(r)));
  return Status::Ok();
}

}  // namespace aimass::crowd
