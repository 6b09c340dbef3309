// Crowd-flow analysis: the service behind /api/v1/crowd. A stream is a video source with its
// counting lines and zones; while it runs, a cluster job (its worker, worker.hpp) reads the
// frames, detects and tracks people (lower layer `mot`) and reports every second what it saw.
// This side keeps the stream's job alive (resubmits it after a failure, with a back-off; cancels
// it on pause), applies the reports (store.hpp), answers counts, tracks, alerts and heatmaps,
// publishes alerts as platform events (`crowd.alert.*`, which reach the message queue), fans
// the live frames out to viewers, and appends each stream's finished minutes to its dataset
// (`crowd-<stream>`), which a cube of the same name follows. No HTTP in here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/auth.hpp"
#include "cluster/cluster.hpp"
#include "common/principal.hpp"
#include "common/status.hpp"
#include "crowd/live_feed.hpp"
#include "crowd/store.hpp"
#include "crowd/stream_spec.hpp"
#include "datasets/datasets.hpp"
#include "events/bus.hpp"
#include "http/message.hpp"

namespace aimass::cube {
class CubeService;
}

namespace aimass::crowd {

struct CrowdOptions {
  std::string dir;                      // snapshots and temp files
  std::vector<std::string> video_dirs;  // where local video files may be read from
  int64_t job_cpus = 2, job_memory_mb = 1024;
  int64_t export_ms = 60000;            // how often finished minutes go to the dataset
  int64_t stall_ms = 60000;             // a running worker silent this long is replaced
  events::EventBus* bus = nullptr;
  datasets::Datasets* datasets = nullptr;
  cube::CubeService* cubes = nullptr;
  cluster::Cluster* cluster = nullptr;
  auth::AuthService* auth = nullptr;
  std::function<std::string()> platform_url;
  std::string aimass_binary;
  bool run_supervisor = true;           // this process keeps the streams' jobs going
};

class CrowdService {
 public:
  CrowdService(storage::Db& db, CrowdOptions options);
  ~CrowdService();
  static std::vector<storage::Migration> Migrations() { return CrowdStore::Migrations(); }

  Status Open();
  void Start();
  void Stop();

  Result<nlohmann::json> Create(const nlohmann::json& body, const Principal& who);
  Result<nlohmann::json> List();
  Result<nlohmann::json> Get(const std::string& name);
  Status Delete(const std::string& name);
  Result<nlohmann::json> Pause(const std::string& name);
  Result<nlohmann::json> Resume(const std::string& name);
  // Adds or replaces a line or zone by name; *created says which. The worker takes it up
  // within a second.
  Result<nlohmann::json> PutLine(const std::string& name, const nlohmann::json& body, bool* created);
  Result<nlohmann::json> PutZone(const std::string& name, const nlohmann::json& body, bool* created);
  Status DeleteLine(const std::string& name, const std::string& line);
  Status DeleteZone(const std::string& name, const std::string& zone);

  // from/to: RFC 3339 (empty: the stream's whole time); interval: 1s, 10s, 1m, 1h, 1d or seconds.
  Result<nlohmann::json> Counts(const std::string& name, const std::string& from, const std::string& to, const std::string& interval);
  // Oldest first, or newest first (by id, which follows when tracks began).
  Result<nlohmann::json> Tracks(const std::string& name, const std::string& from, const std::string& to, int64_t limit, bool paths,
                                bool newest_first);
  Result<nlohmann::json> Track(const std::string& name, int64_t id);
  Result<nlohmann::json> Alerts(const std::string& name, const std::string& from, const std::string& to, int64_t limit, bool newest_first);
  Result<std::string> HeatmapPng(const std::string& name, bool overlay);
  Result<std::string> Snapshot(const std::string& name);
  Result<std::shared_ptr<http::ResponseStream>> Live(const std::string& name, LiveFeed::Format format);

  // The worker's side.
  Result<nlohmann::json> WorkerConfig(const std::string& name);
  Result<std::string> SourcePath(const std::string& name);  // a local file source's path, checked again
  Result<nlohmann::json> Report(const std::string& name, const nlohmann::json& body);
  Status PutSnapshot(const std::string& name, int64_t run, std::string jpeg);
  Status PushLive(const std::string& name, int64_t run, std::string jpeg, const std::string& info);

  // One pass of the supervisor (tests call it; the thread does every second).
  void Supervise();

 private:
  Result<StreamRow> Row(const std::string& name);
  nlohmann::json StreamJson(const StreamRow& s);
  Status CheckSource(const StreamSpec& spec, const Principal& who);
  Status Submit(StreamRow& s);
  Status ExportMinutes(const StreamRow& s, bool all);
  Status EnsureCube(const std::string& stream, const Principal& who);
  Result<nlohmann::json> ChangeSpec(const std::string& name, const std::function<Status(StreamSpec&)>& change);
  void Loop();

  CrowdOptions o_;
  CrowdStore store_;
  LiveFeed live_;
  std::mutex mu_;                       // the supervisor's and the exports' bookkeeping
  std::map<std::string, int64_t> exported_at_ms_;
  std::map<std::string, nlohmann::json> now_;  // per stream: the people in view at its last report
  std::thread thread_;
  std::mutex wake_mu_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
};

}  // namespace aimass::crowd
